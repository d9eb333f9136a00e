"""anime-gan: datasets, GANs, one training loop and metrics for anime-face generation."""

__version__ = "0.1.0"
