"""The project: its SQLite store (store, store_*, schema, records), the model registry, import and export,
grade reports, the printable report, review, timing, summaries, and the demo project."""
