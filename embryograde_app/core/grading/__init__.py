"""Batch grading: frames of folders and files into a CSV report, a project's frames into its store."""
