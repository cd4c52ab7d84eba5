"""torch.nn.modules.batchnorm, where programs import BatchNorm1d/2d/3d from."""

from ember.nn.modules.normalization import (  # noqa: F401
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
)

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]
