"""ember.func: PyTorch's torch.func (functorch) transforms, on ember's reverse-mode engine.

`grad`, `grad_and_value`, `vjp`, `jacrev` and `hessian` differentiate with
`ember.autograd.grad`; `jvp`, `linearize` and `jacfwd` get forward-mode derivatives from the
same engine by the double-vjp trick; `vmap` runs the function once on the whole batch
(batching rules on NumPy calls, `_rules.py`); `functional_call` runs a
module with other tensors as its parameters and buffers. They nest and compose as PyTorch's
do (`grad(grad(f))`, `jacfwd(jacrev(f))`, `vmap(grad(f))`, `vmap(vmap(f))`), and every ember op
works in all of them with no per-op code. Each function's docstring says where it differs
from PyTorch's.
"""

from ember.func._functional_call import functional_call
from ember.func._grad import grad, grad_and_value, vjp
from ember.func._jac import hessian, jacrev
from ember.func._jvp import jacfwd, jvp, linearize
from ember.func._vmap import vmap

__all__ = [
    "functional_call",
    "grad",
    "grad_and_value",
    "hessian",
    "jacfwd",
    "jacrev",
    "jvp",
    "linearize",
    "vjp",
    "vmap",
]
