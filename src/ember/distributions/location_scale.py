"""Normal, Laplace, Uniform and Exponential: each draw is a location plus a scale times a
standard draw, so rsample is reparameterized by construction."""

from __future__ import annotations

import math
import numbers

import ember
from ember.distributions import constraints
from ember.distributions.distribution import Distribution
from ember.distributions.utils import as_size, broadcast_all, draw, finfo, standard_normal

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _scalar_batch(*params):
    """Numbers give an empty batch shape, as PyTorch."""
    return all(isinstance(p, numbers.Number) for p in params)


class _TwoParameter(Distribution):
    """A family with two broadcast scalar parameters named by `_params`."""

    _params = ()

    def __init__(self, a, b, validate_args=None):
        first, second = broadcast_all(a, b)
        setattr(self, self._params[0], first)
        setattr(self, self._params[1], second)
        batch_shape = () if _scalar_batch(a, b) else first.size()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        family = next(c for c in type(self).__mro__ if _TwoParameter in c.__bases__)
        new = self._get_checked_instance(family, _instance)
        batch_shape = as_size(batch_shape)
        for name in self._params:
            setattr(new, name, getattr(self, name).expand(batch_shape))
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _checked(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return value


class Normal(_TwoParameter):
    """Same as torch.distributions.Normal: the Gaussian with mean `loc` and standard deviation
    `scale` (numbers or broadcastable tensors)."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True
    _params = ("loc", "scale")

    def __init__(self, loc, scale, validate_args=None):
        super().__init__(loc, scale, validate_args)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.stddev.pow(2)

    def rsample(self, sample_shape=()):
        eps = standard_normal(self.loc, self._extended_shape(sample_shape))
        return self.loc + eps * self.scale

    def log_prob(self, value):
        value = self._checked(value)
        return -((value - self.loc) ** 2) / (2 * self.scale**2) - self.scale.log() - _HALF_LOG_2PI

    def cdf(self, value):
        value = self._checked(value)
        return ember.special.ndtr((value - self.loc) / self.scale)  # accurate in the tails

    def icdf(self, value):
        return self.loc + self.scale * ember.special.ndtri(value)

    def entropy(self):
        return 0.5 + _HALF_LOG_2PI + self.scale.log()


class Laplace(_TwoParameter):
    """Same as torch.distributions.Laplace: density exp(-|x - loc| / scale) / (2 scale)."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True
    _params = ("loc", "scale")

    def __init__(self, loc, scale, validate_args=None):
        super().__init__(loc, scale, validate_args)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return 2 * self.scale.pow(2)

    @property
    def stddev(self):
        return math.sqrt(2) * self.scale

    def rsample(self, sample_shape=()):
        # u uniform on (-1, 1), open at -1 so log1p(-|u|) stays finite
        eps = float(finfo(self.loc.dtype).eps)
        u = draw(self.loc, self._extended_shape(sample_shape), lambda r, s: r.uniform(-1, 1, s))
        u = u.clamp(min=eps - 1)
        return self.loc - self.scale * u.sign() * ember.log1p(-u.abs())

    def log_prob(self, value):
        value = self._checked(value)
        return -ember.log(2 * self.scale) - (value - self.loc).abs() / self.scale

    def cdf(self, value):
        value = self._checked(value)
        z = value - self.loc
        return 0.5 - 0.5 * z.sign() * ember.expm1(-z.abs() / self.scale)

    def icdf(self, value):
        centered = value - 0.5
        return self.loc - self.scale * centered.sign() * ember.log1p(-2 * centered.abs())

    def entropy(self):
        return 1 + ember.log(2 * self.scale)


class Uniform(_TwoParameter):
    """Same as torch.distributions.Uniform: uniform on the half-open interval [low, high)."""

    has_rsample = True
    _params = ("low", "high")

    def __init__(self, low, high, validate_args=None):
        super().__init__(low, high, validate_args)

    @property
    def arg_constraints(self):
        return {
            "low": constraints.less_than(self.high),
            "high": constraints.greater_than(self.low),
        }

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.interval(self.low, self.high)

    @property
    def mean(self):
        return (self.high + self.low) / 2

    @property
    def mode(self):
        return math.nan * self.high

    @property
    def stddev(self):
        return (self.high - self.low) / 12**0.5

    @property
    def variance(self):
        return (self.high - self.low).pow(2) / 12

    def rsample(self, sample_shape=()):
        u = draw(self.low, self._extended_shape(sample_shape), lambda r, s: r.random(s))
        return self.low + u * (self.high - self.low)

    def log_prob(self, value):
        value = self._checked(value)
        inside = ((self.low <= value) & (self.high > value)).to(self.low.dtype)
        return ember.log(inside) - ember.log(self.high - self.low)

    def cdf(self, value):
        value = self._checked(value)
        return ((value - self.low) / (self.high - self.low)).clamp(min=0, max=1)

    def icdf(self, value):
        return value * (self.high - self.low) + self.low

    def entropy(self):
        return ember.log(self.high - self.low)


class Exponential(Distribution):
    """Same as torch.distributions.Exponential: density rate * exp(-rate x) on x >= 0."""

    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, rate, validate_args=None):
        (self.rate,) = broadcast_all(rate)
        batch_shape = () if isinstance(rate, numbers.Number) else self.rate.size()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Exponential, _instance)
        batch_shape = as_size(batch_shape)
        new.rate = self.rate.expand(batch_shape)
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self):
        return self.rate.reciprocal()

    @property
    def mode(self):
        return ember.zeros_like(self.rate)

    @property
    def stddev(self):
        return self.rate.reciprocal()

    @property
    def variance(self):
        return self.rate.pow(-2)

    def rsample(self, sample_shape=()):
        e = draw(self.rate, self._extended_shape(sample_shape), lambda r, s: r.exponential(1, s))
        return e / self.rate

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self.rate.log() - self.rate * value

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 1 - ember.exp(-self.rate * value)

    def icdf(self, value):
        return -ember.log1p(-value) / self.rate

    def entropy(self):
        return 1.0 - self.rate.log()
