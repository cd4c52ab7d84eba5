"""ember.distributions: PyTorch's torch.distributions for the families programs use.

Parameterizable probability distributions with sampling (`sample`, and reparameterized
`rsample` whose draws carry gradients to the parameters), `log_prob`, `entropy`, moments,
`cdf`/`icdf` where PyTorch has them, argument validation with PyTorch's messages, transforms,
and `kl_divergence` with its `register_kl` registry. Draws come from ember's global generator,
so `ember.manual_seed` reproduces them.
"""

from ember.distributions import constraints, transforms
from ember.distributions.discrete import (
    Bernoulli,
    Categorical,
    OneHotCategorical,
    OneHotCategoricalStraightThrough,
)
from ember.distributions.distribution import Distribution
from ember.distributions.gamma import Beta, Dirichlet, Gamma
from ember.distributions.kl import kl_divergence, register_kl
from ember.distributions.location_scale import Exponential, Laplace, Normal, Uniform
from ember.distributions.multivariate_normal import MultivariateNormal
from ember.distributions.transformed_distribution import (
    Independent,
    LogNormal,
    TransformedDistribution,
)
from ember.distributions.transforms import (
    AffineTransform,
    ComposeTransform,
    ExpTransform,
    SigmoidTransform,
    TanhTransform,
    Transform,
    identity_transform,
)

__all__ = [
    "AffineTransform",
    "Bernoulli",
    "Beta",
    "Categorical",
    "ComposeTransform",
    "Dirichlet",
    "Distribution",
    "ExpTransform",
    "Exponential",
    "Gamma",
    "Independent",
    "Laplace",
    "LogNormal",
    "MultivariateNormal",
    "Normal",
    "OneHotCategorical",
    "OneHotCategoricalStraightThrough",
    "SigmoidTransform",
    "TanhTransform",
    "Transform",
    "TransformedDistribution",
    "Uniform",
    "constraints",
    "identity_transform",
    "kl_divergence",
    "register_kl",
    "transforms",
]
