"""isdaa: a cached, tested workflow for importance-sampling Direct Alignment Algorithms."""

__version__ = "0.1.0"
