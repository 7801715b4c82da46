"""File formats and readers: frames of every kind, layout v1 datasets, labelme/PNG masks, atomic writes."""
