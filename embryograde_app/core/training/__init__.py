"""Retraining a project's model from its corrections, and validating models on datasets."""
