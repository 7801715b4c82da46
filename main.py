"""EmbryoGrade entry point: no arguments opens the GUI; a sub-command runs the CLI."""

from embryograde_app.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
