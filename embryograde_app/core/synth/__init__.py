"""The synthetic time-lapse generator and the demo project built from it."""
