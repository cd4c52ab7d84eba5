"""Gamma, Beta and Dirichlet, with reparameterized sampling.

A Gamma(alpha) draw comes from NumPy's rejection sampler, which is not a smooth function of
alpha. Its gradient is the implicit one (Figurnov et al. 2018, as PyTorch's `_standard_gamma`):
holding the draw's CDF value u = P(alpha, x) fixed, dx/dalpha = -(dP/dalpha) / (dP/dx). dP/dalpha
comes from differentiating the lower incomplete gamma function's power series (for x < alpha + 1)
or the upper one's continued fraction (beyond), term by term, in float64. Beta and Dirichlet
draws are normalized Gamma draws, so their gradients follow from the same derivative.
"""

from __future__ import annotations

import numbers

import numpy

import ember
from ember import _backend, _random
from ember._tensor import Tensor
from ember.autograd import Function
from ember.distributions import constraints
from ember.distributions.distribution import Distribution
from ember.distributions.utils import as_size, broadcast_all, finfo
from ember.ops.special import digamma_array, lgamma_array

_MAX_TERMS = 100_000  # enough for alpha up to about 1e8
_TOLERANCE = 1e-15  # a few ulps: a tighter bound may never be met


def _series_part(xp, a, x):
    """For x < a + 1: with P(a, x) = x^a e^-x / Gamma(a + 1) * S, returns S and
    (d log-prefactor/da) * S + dS/da, which is dP/da over that prefactor."""
    term = xp.ones_like(x)  # x^n / ((a + 1) ... (a + n))
    term_slope = xp.zeros_like(x)  # d log(term) / da = -sum 1 / (a + k)
    total = term.copy()
    total_slope = xp.zeros_like(x)
    for n in range(1, _MAX_TERMS):
        term = term * x / (a + n)
        term_slope = term_slope - 1 / (a + n)
        total = total + term
        total_slope = total_slope + term * term_slope
        if not (term > _TOLERANCE * total).any():
            break
    return total, (xp.log(x) - digamma_array(xp, a + 1)) * total + total_slope


def _fraction_part(xp, a, x):
    """For x >= a + 1: with Q(a, x) = x^a e^-x / Gamma(a) * h (h a continued fraction, by
    Lentz's method), returns h and (d log-prefactor/da) * h + dh/da, which is dQ/da over that
    prefactor. Each Lentz step carries its derivative in a along (b' = -1, an' = i)."""
    tiny = 1e-150  # Lentz's stand-in for zero; its square must not overflow
    b = x + 1 - a
    c, dc = xp.full_like(x, 1 / tiny), xp.zeros_like(x)
    d, dd = 1 / b, 1 / (b * b)
    h, dh = d, dd
    for i in range(1, _MAX_TERMS):
        an = -i * (i - a)
        b = b + 2
        d_den = an * d + b
        d_den_slope = i * d + an * dd - 1
        d_den = xp.where(xp.abs(d_den) < tiny, tiny, d_den)
        c_new = b + an / c
        dc = -1 + i / c - an * dc / (c * c)
        c = xp.where(xp.abs(c_new) < tiny, tiny, c_new)
        d, dd = 1 / d_den, -d_den_slope / (d_den * d_den)
        step = d * c
        step_slope = dd * c + d * dc
        h, dh = h * step, dh * step + h * step_slope
        # the derivative can lag behind the value: wait for both to settle
        moving = (xp.abs(step - 1) > _TOLERANCE) | (
            xp.abs(h * step_slope) > _TOLERANCE * xp.abs(dh)
        )
        if not moving.any():
            break
    return h, (xp.log(x) - digamma_array(xp, a)) * h + dh


def gamma_sample_derivative(xp, a, x):
    """dx/da for x ~ Gamma(a, 1) at fixed CDF value: 1-D float64 arrays in, float64 out.

    With f the density, dx/da = -(dP/da) / f; both prefactors cancel against f's."""
    below = x < a + 1
    out = xp.zeros_like(x)
    if below.any():
        ab, xb = a[below], x[below]
        out[below] = -(xb / ab) * _series_part(xp, ab, xb)[1]
    if (~below).any():
        aa, xa = a[~below], x[~below]
        out[~below] = xa * _fraction_part(xp, aa, xa)[1]
    return out


def regularized_gamma_p(xp, a, x):
    """P(a, x), the lower regularized incomplete gamma function (Gamma(a, 1)'s CDF at x):
    1-D float64 arrays in, float64 out. 0 for x <= 0, 1 at x = inf."""
    out = xp.where(x > 0, 1.0, 0.0)
    finite = (x > 0) & (x < xp.inf)
    below = finite & (x < a + 1)
    above = finite & ~below
    with numpy.errstate(over="ignore", under="ignore"):
        if below.any():
            ab, xb = a[below], x[below]
            log_prefactor = ab * xp.log(xb) - xb - lgamma_array(xp, ab + 1)
            out[below] = xp.exp(log_prefactor) * _series_part(xp, ab, xb)[0]
        if above.any():
            aa, xa = a[above], x[above]
            log_prefactor = aa * xp.log(xa) - xa - lgamma_array(xp, aa)
            out[above] = 1 - xp.exp(log_prefactor) * _fraction_part(xp, aa, xa)[0]
    return out


def _flat_float64(fn, alpha, x):
    """Apply a 1-D float64 array function to two same-shape tensors; the result has alpha's
    dtype, shape and device."""
    xp = _backend.array_module(alpha._data)
    a64 = alpha._data.astype("float64").ravel()
    x64 = x._data.astype("float64").ravel()
    out = fn(xp, a64, x64).reshape(alpha._data.shape).astype(alpha._data.dtype)
    return Tensor._make(out)


class _GammaSampleDerivative(Function):
    """dx/dalpha of a standard Gamma draw x (an array function of alpha and x); its own
    derivative is not implemented, as in PyTorch."""

    @staticmethod
    def forward(ctx, alpha, x):
        return _flat_float64(gamma_sample_derivative, alpha, x)

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError(
            "the derivative of a reparameterized Gamma, Beta or Dirichlet sample with respect "
            "to its concentration cannot be differentiated again (as in PyTorch)"
        )


def _host_gammas(alpha):
    """Standard Gamma draws (float64, host) of alpha's shape from ember's global generator."""
    a = _backend.to_host(alpha._data).astype("float64")
    return numpy.asarray(_random.rng(None).standard_gamma(a), dtype="float64").reshape(a.shape)


class _StandardGamma(Function):
    """Draws x ~ Gamma(alpha, 1) (clamped to the dtype's smallest normal number, as PyTorch);
    backward uses the implicit reparameterization gradient."""

    @staticmethod
    def forward(ctx, alpha):
        x = _host_gammas(alpha).astype(alpha._data.dtype)
        x = numpy.maximum(x, finfo(alpha.dtype).tiny)
        out = Tensor._make(_backend.to_device(x, alpha.device))
        ctx.save_for_backward(alpha, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        alpha, x = ctx.saved_tensors
        return grad * _GammaSampleDerivative.apply(alpha, x)


class _DirichletSample(Function):
    """Draws x = G / sum(G) over the last dimension, G_i ~ Gamma(alpha_i, 1) (normalized in
    float64). With T = sum(G), dx_i/dG_j = (delta_ij - x_i) / T, so the gradient for alpha_j
    is (grad_j - sum_i grad_i x_i) / T * dG_j/dalpha_j, where G_j = x_j T."""

    @staticmethod
    def forward(ctx, alpha):
        gammas = _host_gammas(alpha)
        total = gammas.sum(-1, keepdims=True)
        info = finfo(alpha.dtype)
        x = numpy.clip(gammas / total, info.tiny, 1 - info.eps).astype(alpha._data.dtype)
        out = Tensor._make(_backend.to_device(x, alpha.device))
        ctx.total = Tensor._make(_backend.to_device(total.astype(alpha._data.dtype), alpha.device))
        ctx.save_for_backward(alpha, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        alpha, x = ctx.saved_tensors
        total = ctx.total
        slope = _GammaSampleDerivative.apply(alpha, x * total)
        return (grad - (grad * x).sum(-1, keepdim=True)) / total * slope


class _GammaCDF(Function):
    """P(alpha, x). d/dx is the density; d/dalpha is -density * dx/dalpha (the sampler's
    implicit derivative), whose own derivative in alpha is not implemented."""

    @staticmethod
    def forward(ctx, alpha, x):
        ctx.save_for_backward(alpha, x)
        return _flat_float64(regularized_gamma_p, alpha, x)

    @staticmethod
    def backward(ctx, grad):
        alpha, x = ctx.saved_tensors
        density = ember.exp(ember.xlogy(alpha - 1, x) - x - ember.lgamma(alpha))
        grad_alpha = grad_x = None
        if ctx.needs_input_grad[0]:
            grad_alpha = -grad * density * _GammaSampleDerivative.apply(alpha, x)
        if ctx.needs_input_grad[1]:
            grad_x = grad * density
        return grad_alpha, grad_x


class Gamma(Distribution):
    """Same as torch.distributions.Gamma: density rate^c x^(c-1) e^(-rate x) / Gamma(c) on
    x > 0, with shape `concentration` (c) and `rate`. rsample is reparameterized (implicit
    gradient, for both parameters)."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = broadcast_all(concentration, rate)
        scalar = isinstance(concentration, numbers.Number) and isinstance(rate, numbers.Number)
        batch_shape = () if scalar else self.concentration.size()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Gamma, _instance)
        batch_shape = as_size(batch_shape)
        new.concentration = self.concentration.expand(batch_shape)
        new.rate = self.rate.expand(batch_shape)
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate.pow(2)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        x = _StandardGamma.apply(self.concentration.expand(shape))
        return x / self.rate.expand(shape)

    def log_prob(self, value):
        value = ember.as_tensor(value, dtype=self.rate.dtype, device=self.rate.device)
        if self._validate_args:
            self._validate_sample(value)
        c, r = self.concentration, self.rate
        return ember.xlogy(c, r) + ember.xlogy(c - 1, value) - r * value - ember.lgamma(c)

    def cdf(self, value):
        value = ember.as_tensor(value, dtype=self.rate.dtype, device=self.rate.device)
        if self._validate_args:
            self._validate_sample(value)
        alpha, x = ember.broadcast_tensors(self.concentration, self.rate * value)
        return _GammaCDF.apply(alpha, x)

    def entropy(self):
        c = self.concentration
        return c - self.rate.log() + ember.lgamma(c) + (1.0 - c) * ember.digamma(c)


class Dirichlet(Distribution):
    """Same as torch.distributions.Dirichlet: a distribution over the simplex with
    `concentration` of shape batch_shape + (k,). rsample is reparameterized."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration, validate_args=None):
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        shape = concentration.shape
        super().__init__(shape[:-1], shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Dirichlet, _instance)
        batch_shape = as_size(batch_shape)
        new.concentration = self.concentration.expand(batch_shape + self.event_shape)
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        return _DirichletSample.apply(self.concentration.expand(shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return (
            ember.xlogy(c - 1.0, value).sum(-1) + ember.lgamma(c.sum(-1)) - ember.lgamma(c).sum(-1)
        )

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self):
        excess = (self.concentration - 1).clamp(min=0.0)
        mode = excess / excess.sum(-1, keepdim=True)
        # every concentration below 1: the density is unbounded at every vertex; PyTorch
        # returns the first vertex, and so does ember
        all_below = (self.concentration < 1).all(-1, keepdim=True)
        k = self.concentration.shape[-1]
        first = ember.arange(k, device=mode.device) == 0
        vertex = first.to(mode.dtype).expand(mode.shape)
        return ember.where(all_below, vertex, mode)

    @property
    def variance(self):
        c = self.concentration
        total = c.sum(-1, keepdim=True)
        return c * (total - c) / (total.pow(2) * (total + 1))

    def entropy(self):
        c = self.concentration
        k = c.size(-1)
        total = c.sum(-1)
        return (
            ember.lgamma(c).sum(-1)
            - ember.lgamma(total)
            - (k - total) * ember.digamma(total)
            - ((c - 1.0) * ember.digamma(c)).sum(-1)
        )


class Beta(Distribution):
    """Same as torch.distributions.Beta: density x^(a-1) (1-x)^(b-1) / B(a, b) on [0, 1],
    with a = `concentration1`, b = `concentration0`. rsample is reparameterized."""

    arg_constraints = {
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
    }
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args=None):
        if isinstance(concentration1, numbers.Number) and isinstance(
            concentration0, numbers.Number
        ):
            both = ember.tensor([float(concentration1), float(concentration0)])
        else:
            c1, c0 = broadcast_all(concentration1, concentration0)
            both = ember.stack([c1, c0], -1)
        self._dirichlet = Dirichlet(both, validate_args=validate_args)
        super().__init__(self._dirichlet.batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Beta, _instance)
        batch_shape = as_size(batch_shape)
        new._dirichlet = self._dirichlet.expand(batch_shape)
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def concentration1(self):
        """The first shape parameter (the exponent of x)."""
        return self._dirichlet.concentration[..., 0]

    @property
    def concentration0(self):
        """The second shape parameter (the exponent of 1 - x)."""
        return self._dirichlet.concentration[..., 1]

    @property
    def mean(self):
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self):
        return self._dirichlet.mode[..., 0]

    @property
    def variance(self):
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total.pow(2) * (total + 1))

    def rsample(self, sample_shape=()):
        return self._dirichlet.rsample(sample_shape).select(-1, 0)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        heads_tails = ember.stack([value, 1.0 - value], -1)
        return self._dirichlet.log_prob(heads_tails)

    def entropy(self):
        return self._dirichlet.entropy()
