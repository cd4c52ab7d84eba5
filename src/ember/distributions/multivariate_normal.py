"""MultivariateNormal, parameterized by a covariance matrix, a precision matrix or a lower
Cholesky factor; everything is computed from the Cholesky factor L (covariance = L L^T)."""

from __future__ import annotations

import math

import ember
from ember.distributions import constraints
from ember.distributions.distribution import Distribution
from ember.distributions.utils import as_size, lazy_property, standard_normal

_LOG_2PI = math.log(2 * math.pi)


def _precision_to_scale_tril(precision):
    """The lower Cholesky factor of inverse(precision), without forming the inverse: with the
    reversal J (J P J = U^T U flipped, U upper), inverse(P) = (J U^-1 J)(J U^-1 J)^T."""
    flipped = ember.linalg.cholesky(ember.flip(precision, (-2, -1)))
    inverse_factor = ember.flip(flipped, (-2, -1)).mT
    eye = ember.eye(precision.shape[-1], dtype=precision.dtype, device=precision.device)
    return ember.linalg.solve_triangular(inverse_factor, eye, upper=False)


def batch_mahalanobis(scale_tril, x):
    """x^T (L L^T)^-1 x over the last dimension, batch dimensions broadcast."""
    solved = ember.linalg.solve_triangular(scale_tril, x.unsqueeze(-1), upper=False)
    return solved.squeeze(-1).pow(2).sum(-1)


class MultivariateNormal(Distribution):
    """Same as torch.distributions.MultivariateNormal: the Gaussian with mean `loc` (shape
    batch + (n,)) and exactly one of `covariance_matrix`, `precision_matrix` or `scale_tril`
    (shape batch + (n, n); batch shapes broadcast). rsample is loc + L @ eps."""

    arg_constraints = {
        "loc": constraints.real_vector,
        "covariance_matrix": constraints.positive_definite,
        "precision_matrix": constraints.positive_definite,
        "scale_tril": constraints.lower_cholesky,
    }
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self,
        loc,
        covariance_matrix=None,
        precision_matrix=None,
        scale_tril=None,
        validate_args=None,
    ):
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        given = [
            (name, m)
            for name, m in (
                ("scale_tril", scale_tril),
                ("covariance_matrix", covariance_matrix),
                ("precision_matrix", precision_matrix),
            )
            if m is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "Exactly one of covariance_matrix or precision_matrix or scale_tril may be "
                "specified."
            )
        ((name, matrix),) = given
        if matrix.dim() < 2:
            label = "scale_tril matrix" if name == "scale_tril" else name
            raise ValueError(
                f"{label} must be at least two-dimensional, with optional leading batch dimensions"
            )
        batch_shape = ember.broadcast_shapes(matrix.shape[:-2], loc.shape[:-1])
        setattr(self, name, matrix.expand(tuple(batch_shape) + (-1, -1)))
        self.loc = loc.expand(tuple(batch_shape) + (-1,))
        super().__init__(batch_shape, self.loc.shape[-1:], validate_args=validate_args)
        if name == "scale_tril":
            self._unbroadcasted_scale_tril = matrix
        elif name == "covariance_matrix":
            self._unbroadcasted_scale_tril = ember.linalg.cholesky(matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(matrix)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(MultivariateNormal, _instance)
        batch_shape = as_size(batch_shape)
        loc_shape = batch_shape + self.event_shape
        cov_shape = batch_shape + self.event_shape + self.event_shape
        new.loc = self.loc.expand(loc_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                setattr(new, name, self.__dict__[name].expand(cov_shape))
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _matrix_shape(self):
        return tuple(self._batch_shape + self._event_shape + self._event_shape)

    @lazy_property
    def scale_tril(self):
        """The lower Cholesky factor L of the covariance."""
        return self._unbroadcasted_scale_tril.expand(self._matrix_shape())

    @lazy_property
    def covariance_matrix(self):
        """L L^T."""
        tril = self._unbroadcasted_scale_tril
        return (tril @ tril.mT).expand(self._matrix_shape())

    @lazy_property
    def precision_matrix(self):
        """The inverse of the covariance, (L^-1)^T L^-1."""
        tril = self._unbroadcasted_scale_tril
        eye = ember.eye(tril.shape[-1], dtype=tril.dtype, device=tril.device)
        inverse = ember.linalg.solve_triangular(tril, eye, upper=False)
        return (inverse.mT @ inverse).expand(self._matrix_shape())

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        per_dim = self._unbroadcasted_scale_tril.pow(2).sum(-1)
        return per_dim.expand(tuple(self._batch_shape + self._event_shape))

    def rsample(self, sample_shape=()):
        eps = standard_normal(self.loc, self._extended_shape(sample_shape))
        scaled = (self._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1)
        return self.loc + scaled

    def _half_log_det(self):
        return self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        distance = batch_mahalanobis(self._unbroadcasted_scale_tril, value - self.loc)
        n = self._event_shape[0]
        return -0.5 * (n * _LOG_2PI + distance) - self._half_log_det()

    def entropy(self):
        n = self._event_shape[0]
        value = 0.5 * n * (1.0 + _LOG_2PI) + self._half_log_det()
        return value.expand(tuple(self._batch_shape)) if len(self._batch_shape) else value
