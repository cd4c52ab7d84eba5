"""ember.special: PyTorch's torch.special, for the functions ember has.

Names PyTorch also keeps at top level are the same functions as `ember.<name>`; every function
here takes PyTorch's `out=` keyword.
"""

from ember import ops as _ops
from ember.ops import special as _special
from ember.ops._front import with_out as _with_out

_SAME_AS = {
    "digamma": "digamma",
    "entr": None,
    "erf": "erf",
    "erfc": "erfc",
    "erfcx": None,
    "erfinv": "erfinv",
    "exp2": "exp2",
    "expit": "sigmoid",
    "expm1": "expm1",
    "gammaln": "lgamma",
    "i0": "i0",
    "i0e": None,
    "i1": None,
    "i1e": None,
    "log1p": "log1p",
    "log_ndtr": None,
    "logit": "logit",
    "multigammaln": "mvlgamma",
    "ndtr": None,
    "ndtri": None,
    "polygamma": "polygamma",
    "psi": "digamma",
    "round": "round",
    "sinc": "sinc",
    "xlog1py": None,
    "xlogy": "xlogy",
    "zeta": None,
}


def _function(name, source):
    if source is None:
        return _with_out(f"special.{name}", _special.SPECIAL[name])
    return _with_out(f"special.{name}", _ops.FUNCTIONS[source])


globals().update({name: _function(name, source) for name, source in _SAME_AS.items()})


def softmax(input, dim, *, dtype=None):
    """Same as torch.special.softmax."""
    return _ops.FUNCTIONS["softmax"](input, dim, dtype=dtype)


def log_softmax(input, dim, *, dtype=None):
    """Same as torch.special.log_softmax."""
    return _ops.FUNCTIONS["log_softmax"](input, dim, dtype=dtype)


def logsumexp(input, dim, keepdim=False):
    """Same as torch.special.logsumexp."""
    return _ops.FUNCTIONS["logsumexp"](input, dim, keepdim)


__all__ = sorted([*_SAME_AS, "log_softmax", "logsumexp", "softmax"])
