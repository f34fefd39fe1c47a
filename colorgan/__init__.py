"""colorgan: colorize black-and-white photos with pix2pix-family conditional GANs."""

__version__ = "0.1.0"
__all__ = ["Colorizer", "Hint", "__version__", "restore"]


def __getattr__(name):
    # Lazy so that `import colorgan` (and `colorgan --help`) does not import torch.
    if name == "Colorizer":
        from colorgan.pipeline.colorizer import Colorizer

        return Colorizer
    if name == "Hint":
        from colorgan.pipeline.guidance import Hint

        return Hint
    if name == "restore":  # repair scratches, dust, grain, fading (OpenCV: only when asked)
        from colorgan.pipeline.restore import restore

        return restore
    raise AttributeError(f"module 'colorgan' has no attribute {name!r}")
