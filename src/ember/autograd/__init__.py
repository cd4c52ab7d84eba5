"""ember.autograd: the engine, custom Functions, grad mode and gradient checks."""

from ember.autograd import forward_ad, functional, graph
from ember.autograd.anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from ember.autograd.engine import backward, grad
from ember.autograd.function import Function, once_differentiable
from ember.autograd.grad_mode import (
    _force_original_view_tracking,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    is_multithreading_enabled,
    no_grad,
    set_grad_enabled,
    set_multithreading_enabled,
)
from ember.autograd.gradcheck import gradcheck, gradgradcheck
from ember.autograd.saved import SavedTensor, _unsafe_preserve_version_counter
from ember.autograd.variable import Variable, _calculate_shape

__all__ = [
    "Function",
    "SavedTensor",
    "Variable",
    "backward",
    "detect_anomaly",
    "is_anomaly_enabled",
    "set_detect_anomaly",
    "enable_grad",
    "forward_ad",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "graph",
    "inference_mode",
    "is_grad_enabled",
    "is_inference_mode_enabled",
    "is_multithreading_enabled",
    "no_grad",
    "once_differentiable",
    "set_grad_enabled",
    "set_multithreading_enabled",
]
