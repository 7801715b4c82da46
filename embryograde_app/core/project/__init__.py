"""The project: its SQLite store, the model registry, import, export, reports, review, timing."""
