"""ember.autograd.functional: jacobian, hessian, vjp, jvp, hvp, vhp (PyTorch's API)."""
