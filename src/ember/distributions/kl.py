"""kl_divergence(p, q) and its registry: closed forms for pairs of families, as PyTorch has.

A pair whose supports make the divergence infinite everywhere (a Normal against a Gamma, say)
returns +inf of p's batch shape, as PyTorch does.
"""

from __future__ import annotations

import math
import warnings

import ember
from ember.distributions.discrete import Bernoulli, Categorical, OneHotCategorical
from ember.distributions.distribution import Distribution
from ember.distributions.gamma import Beta, Dirichlet, Gamma
from ember.distributions.location_scale import Exponential, Laplace, Normal, Uniform
from ember.distributions.multivariate_normal import MultivariateNormal, batch_mahalanobis
from ember.distributions.transformed_distribution import Independent, TransformedDistribution
from ember.distributions.utils import sum_rightmost
from ember.nn.functional import softplus

__all__ = ["kl_divergence", "register_kl"]

_REGISTRY = {}  # (type_p, type_q) -> function
_RESOLVED = {}  # (type(p), type(q)) -> function or None; cleared when the registry changes
_EULER_GAMMA = 0.57721566490153286060


def register_kl(type_p, type_q):
    """Same as torch.distributions.kl.register_kl: a decorator that registers `fn(p, q)` as
    KL(p || q) for p of `type_p` and q of `type_q` (or subclasses). The most specific
    registered pair wins; when the p-first and q-first orders disagree, a RuntimeWarning asks
    for a registration that breaks the tie."""
    for name, t in (("type_p", type_p), ("type_q", type_q)):
        if not (isinstance(t, type) and issubclass(t, Distribution)):
            raise TypeError(f"Expected {name} to be a Distribution subclass but got {t}")

    def decorator(fn):
        _REGISTRY[type_p, type_q] = fn
        _RESOLVED.clear()
        return fn

    return decorator


def _resolve(type_p, type_q):
    matches = [
        (p, q) for p, q in list(_REGISTRY) if issubclass(type_p, p) and issubclass(type_q, q)
    ]
    if not matches:
        return None
    mro_p, mro_q = type_p.__mro__, type_q.__mro__
    left = min(matches, key=lambda m: (mro_p.index(m[0]), mro_q.index(m[1])))
    right = min(matches, key=lambda m: (mro_q.index(m[1]), mro_p.index(m[0])))
    if _REGISTRY[left] is not _REGISTRY[right]:
        warnings.warn(
            f"Ambiguous kl_divergence({type_p.__name__}, {type_q.__name__}). "
            f"Please register_kl({left[0].__name__}, {right[1].__name__})",
            RuntimeWarning,
            stacklevel=3,
        )
    return _REGISTRY[left]


def kl_divergence(p, q):
    """Same as torch.distributions.kl_divergence: KL(p || q) = E_p[log p(x) - log q(x)], of
    the broadcast batch shape. Raises NotImplementedError for pairs with no registered form."""
    key = (type(p), type(q))
    if key not in _RESOLVED:
        _RESOLVED[key] = _resolve(*key)
    fn = _RESOLVED[key]
    if fn is None:
        raise NotImplementedError(
            f"No KL(p || q) is implemented for p type {type(p).__name__} and q type "
            f"{type(q).__name__}"
        )
    return fn(p, q)


def _infinite(like):
    return ember.full_like(like, math.inf)


def _x_log_x(x):
    return ember.xlogy(x, x)  # 0 at x = 0


# --- same family ---
@register_kl(Normal, Normal)
def _normal_normal(p, q):
    var_ratio = (p.scale / q.scale).pow(2)
    shift = ((p.loc - q.loc) / q.scale).pow(2)
    return 0.5 * (var_ratio + shift - 1 - var_ratio.log())


@register_kl(Laplace, Laplace)
def _laplace_laplace(p, q):
    scale_ratio = p.scale / q.scale
    distance = (p.loc - q.loc).abs()
    return (
        -scale_ratio.log() + distance / q.scale + scale_ratio * ember.exp(-distance / p.scale) - 1
    )


@register_kl(Uniform, Uniform)
def _uniform_uniform(p, q):
    result = ((q.high - q.low) / (p.high - p.low)).log()
    outside = (q.low > p.low) | (q.high < p.high)
    return ember.where(outside, math.inf, result)


@register_kl(Exponential, Exponential)
def _exponential_exponential(p, q):
    ratio = q.rate / p.rate
    return ratio - ratio.log() - 1


@register_kl(Gamma, Gamma)
def _gamma_gamma(p, q):
    pc, pr, qc, qr = p.concentration, p.rate, q.concentration, q.rate
    return (
        qc * (pr / qr).log()
        + ember.lgamma(qc)
        - ember.lgamma(pc)
        + (pc - qc) * ember.digamma(pc)
        + (qr - pr) * (pc / pr)
    )


@register_kl(Beta, Beta)
def _beta_beta(p, q):
    p1, p0, q1, q0 = p.concentration1, p.concentration0, q.concentration1, q.concentration0
    p_total, q_total = p1 + p0, q1 + q0
    log_norms = (
        ember.lgamma(q1) + ember.lgamma(q0) + ember.lgamma(p_total)
        - ember.lgamma(p1) - ember.lgamma(p0) - ember.lgamma(q_total)
    )  # fmt: skip
    return (
        log_norms
        + (p1 - q1) * ember.digamma(p1)
        + (p0 - q0) * ember.digamma(p0)
        + (q_total - p_total) * ember.digamma(p_total)
    )


@register_kl(Dirichlet, Dirichlet)
def _dirichlet_dirichlet(p, q):
    pc, qc = p.concentration, q.concentration
    p_total = pc.sum(-1)
    log_norms = ember.lgamma(p_total) - ember.lgamma(qc.sum(-1))
    log_norms = log_norms - (ember.lgamma(pc) - ember.lgamma(qc)).sum(-1)
    expected_logs = ember.digamma(pc) - ember.digamma(p_total).unsqueeze(-1)
    return log_norms + ((pc - qc) * expected_logs).sum(-1)


@register_kl(Bernoulli, Bernoulli)
def _bernoulli_bernoulli(p, q):
    ones = p.probs * (softplus(-q.logits) - softplus(-p.logits))
    ones = ember.where(q.probs == 0, math.inf, ones)
    ones = ember.where(p.probs == 0, 0.0, ones)
    zeros = (1 - p.probs) * (softplus(q.logits) - softplus(p.logits))
    zeros = ember.where(q.probs == 1, math.inf, zeros)
    zeros = ember.where(p.probs == 1, 0.0, zeros)
    return ones + zeros


@register_kl(Categorical, Categorical)
def _categorical_categorical(p, q):
    terms = p.probs * (p.logits - q.logits)
    terms = ember.where(q.probs == 0, math.inf, terms)
    terms = ember.where(p.probs == 0, 0.0, terms)  # 0 log 0 = 0, even where q is 0
    return terms.sum(-1)


@register_kl(OneHotCategorical, OneHotCategorical)
def _onehot_onehot(p, q):
    return _categorical_categorical(p._categorical, q._categorical)


@register_kl(MultivariateNormal, MultivariateNormal)
def _mvn_mvn(p, q):
    if p.event_shape != q.event_shape:
        raise ValueError(
            "KL-divergence between two Multivariate Normals with different event shapes "
            "cannot be computed"
        )
    p_tril, q_tril = p._unbroadcasted_scale_tril, q._unbroadcasted_scale_tril
    half_log_det_ratio = q_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1) - p_tril.diagonal(
        dim1=-2, dim2=-1
    ).log().sum(-1)
    n = p.event_shape[0]
    batch = tuple(ember.broadcast_shapes(q_tril.shape[:-2], p_tril.shape[:-2]))
    solved = ember.linalg.solve_triangular(
        q_tril.expand(batch + (n, n)), p_tril.expand(batch + (n, n)), upper=False
    )
    trace = solved.pow(2).sum((-2, -1))  # tr(Sigma_q^-1 Sigma_p)
    distance = batch_mahalanobis(q_tril, q.loc - p.loc)
    return half_log_det_ratio + 0.5 * (trace + distance - n)


@register_kl(Independent, Independent)
def _independent_independent(p, q):
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError
    return sum_rightmost(kl_divergence(p.base_dist, q.base_dist), p.reinterpreted_batch_ndims)


@register_kl(TransformedDistribution, TransformedDistribution)
def _transformed_transformed(p, q):
    if p.transforms != q.transforms or p.event_shape != q.event_shape:
        raise NotImplementedError
    return kl_divergence(p.base_dist, q.base_dist)


# --- across families ---
@register_kl(Beta, Exponential)
def _beta_exponential(p, q):
    mean = p.concentration1 / (p.concentration1 + p.concentration0)
    return -p.entropy() - q.rate.log() + q.rate * mean


@register_kl(Beta, Gamma)
def _beta_gamma(p, q):
    p1, total = p.concentration1, p.concentration1 + p.concentration0
    expected_log = ember.digamma(p1) - ember.digamma(total)
    return (
        -p.entropy()
        + ember.lgamma(q.concentration)
        - q.concentration * q.rate.log()
        - (q.concentration - 1) * expected_log
        + q.rate * p1 / total
    )


@register_kl(Beta, Normal)
def _beta_normal(p, q):
    p1, total = p.concentration1, p.concentration1 + p.concentration0
    mean = p1 / total
    second_moment = p1 * (p1 + 1) / (total * (total + 1))
    var = q.scale.pow(2)
    quadratic = 0.5 * (second_moment - 2 * q.loc * mean + q.loc.pow(2))
    return -p.entropy() + 0.5 * (2 * math.pi * var).log() + quadratic / var


@register_kl(Beta, Uniform)
def _beta_uniform(p, q):
    result = -p.entropy() + (q.high - q.low).log()
    return ember.where((q.low > 0.0) | (q.high < 1.0), math.inf, result)


@register_kl(Exponential, Gamma)
def _exponential_gamma(p, q):
    ratio = q.rate / p.rate
    return (
        -q.concentration * ratio.log()
        + ratio
        + ember.lgamma(q.concentration)
        + q.concentration * _EULER_GAMMA
        - (1 + _EULER_GAMMA)
    )


@register_kl(Exponential, Normal)
def _exponential_normal(p, q):
    var = q.scale.pow(2)
    rate_sq = p.rate.pow(2)
    log_term = 0.5 * (rate_sq * var * 2 * math.pi).log()
    return log_term - 1 + (rate_sq.reciprocal() - q.loc / p.rate + 0.5 * q.loc.pow(2)) / var


@register_kl(Gamma, Exponential)
def _gamma_exponential(p, q):
    return -p.entropy() - q.rate.log() + q.rate * (p.concentration / p.rate)


@register_kl(Gamma, Normal)
def _gamma_normal(p, q):
    c, rate = p.concentration, p.rate
    var = q.scale.pow(2)
    rate_sq = rate.pow(2)
    log_term = 0.5 * (rate_sq * var * 2 * math.pi).log() - c - ember.lgamma(c)
    moments = 0.5 * (c.pow(2) + c) / rate_sq - q.loc * c / rate + 0.5 * q.loc.pow(2)
    return log_term + (c - 1) * ember.digamma(c) + moments / var


@register_kl(Laplace, Normal)
def _laplace_normal(p, q):
    var = q.scale.pow(2)
    ratio = p.scale.pow(2) / var
    log_term = 0.5 * (2 * ratio / math.pi).log()
    quadratic = 0.5 * p.loc.pow(2) - p.loc * q.loc + 0.5 * q.loc.pow(2)
    return -log_term + ratio + quadratic / var - 1


@register_kl(Normal, Laplace)
def _normal_laplace(p, q):
    shift = p.loc - q.loc
    standardized = shift / p.scale
    spread = math.sqrt(2 / math.pi) * p.scale * ember.exp(-0.5 * standardized.pow(2))
    tilt = shift * ember.erf(math.sqrt(0.5) * standardized)
    constant = 0.5 * (1 + math.log(0.5 * math.pi))
    return -(p.scale / q.scale).log() + (spread + tilt) / q.scale - constant


@register_kl(Uniform, Beta)
def _uniform_beta(p, q):
    width = p.high - p.low
    q1, q0 = q.concentration1, q.concentration0
    log_x_term = (q1 - 1) * (_x_log_x(p.high) - _x_log_x(p.low) - width) / width
    log_1mx_term = (q0 - 1) * (_x_log_x(1 - p.high) - _x_log_x(1 - p.low) + width) / width
    log_beta = ember.lgamma(q1) + ember.lgamma(q0) - ember.lgamma(q1 + q0)
    result = log_1mx_term + log_beta - width.log() - log_x_term
    return ember.where((p.high > 1.0) | (p.low < 0.0), math.inf, result)


@register_kl(Uniform, Exponential)
def _uniform_exponential(p, q):
    result = q.rate * (p.high + p.low) / 2 - ((p.high - p.low) * q.rate).log()
    return ember.where(p.low < 0.0, math.inf, result)


@register_kl(Uniform, Gamma)
def _uniform_gamma(p, q):
    width = p.high - p.low
    c = q.concentration
    log_x_term = (1 - c) * (_x_log_x(p.high) - _x_log_x(p.low) - width) / width
    result = (
        -width.log()
        + ember.lgamma(c)
        - c * q.rate.log()
        + log_x_term
        + q.rate * (p.high + p.low) / 2
    )
    return ember.where(p.low < 0.0, math.inf, result)


@register_kl(Uniform, Normal)
def _uniform_normal(p, q):
    width = p.high - p.low
    log_term = (math.sqrt(2 * math.pi) * q.scale / width).log()
    spread = width.pow(2) / 12 + ((p.high + p.low - 2 * q.loc) / 2).pow(2)
    return log_term + 0.5 * spread / q.scale.pow(2)


# --- supports that make the divergence infinite ---
for _p, _param, _qs in (
    (Normal, "loc", (Beta, Exponential, Gamma, Uniform)),
    (Laplace, "loc", (Beta, Exponential, Gamma, Uniform)),
    (Exponential, "rate", (Beta, Uniform)),
    (Gamma, "concentration", (Beta, Uniform)),
):
    for _q in _qs:
        register_kl(_p, _q)(lambda p, q, _param=_param: _infinite(getattr(p, _param)))
