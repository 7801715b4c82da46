"""What the numbers mean, imported by every other part of core: pixel classes, the fragmentation %,
grading schemes, segmentation and agreement metrics."""
