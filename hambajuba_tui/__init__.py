"""hambajuba: a terminal creature that lets a diffusion model dance to your music."""

__version__ = "0.1.0"
