"""Qt-free helpers of the window: overlays, readouts, mask editing, the time course, request queues."""
