"""torch.nn.modules.instancenorm, where programs import InstanceNorm1d/2d/3d from."""

from ember.nn.modules.normalization import (  # noqa: F401
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
)

__all__ = ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]
