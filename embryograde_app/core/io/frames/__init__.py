"""Step 2 of the restructure: the module is being split (next commit)."""

from embryograde_app.core.io.frames.sequence import *  # noqa: F403
