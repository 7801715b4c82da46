"""Training the network: data, losses, the stage loops, the real-embryo recipe."""
