"""The network and the view of the frame it reads."""
