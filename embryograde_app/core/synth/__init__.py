"""The synthetic time-lapse generator: scene (each embryo's plan, geometry and textures) and generator
(painting its frames, writing layout v1 datasets). The same seed gives the same bytes."""
