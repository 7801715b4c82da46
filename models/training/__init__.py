"""Training the network.

data: samples, masks, augmentation, datasets, the split by embryo. losses: segmentation and range losses.
config: TrainConfig, TrainResult, what each stage trains, the starting network. loop: train() and the image
stages (1, e2e). stage2: the grading head on cached features (features: that cache). refine_stage: the
boundary refiner. steps: what every stage shares (progress, one optimiser step, the validation tally).
real_recipe: the one recipe that teaches a generator model real embryos.

The top of models' import order (network <- inference <- training): it uses models.network and
models.inference; neither imports it.
"""
