"""EmbryoGrade: grading of embryo fragmentation with AttnRegDeepLab."""

__version__ = "0.1.0"
