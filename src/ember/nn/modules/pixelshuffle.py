"""torch.nn.modules.pixelshuffle, where programs import PixelShuffle and PixelUnshuffle from."""

from ember.nn.modules.upsampling import (  # noqa: F401
    PixelShuffle,
    PixelUnshuffle,
)

__all__ = ["PixelShuffle", "PixelUnshuffle"]
