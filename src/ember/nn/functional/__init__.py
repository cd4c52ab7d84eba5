"""ember.nn.functional: torch.nn.functional's functions, by the same names.

The elementwise activations (gelu, silu, elu, softplus, ...) live in ember.ops.activation_math
and are re-exported from there; the rest are gathered from ember.ops and this package.
"""

import importlib

from ember.nn.functional.activation import (
    glu,
    gumbel_softmax,
    hardshrink,
    log_softmax,
    prelu,
    relu,
    relu_,
    rrelu,
    rrelu_,
    sigmoid,
    softmax,
    softmin,
    softshrink,
    tanh,
    tanhshrink,
    threshold,
    threshold_,
)
from ember.nn.functional.grid import affine_grid, grid_sample
from ember.nn.functional.linear import bilinear, linear
from ember.nn.functional.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cosine_embedding_loss,
    cross_entropy,
    gaussian_nll_loss,
    hinge_embedding_loss,
    huber_loss,
    kl_div,
    l1_loss,
    margin_ranking_loss,
    mse_loss,
    multi_margin_loss,
    multilabel_soft_margin_loss,
    nll_loss,
    pairwise_distance,
    poisson_nll_loss,
    smooth_l1_loss,
    soft_margin_loss,
    triplet_margin_loss,
    triplet_margin_with_distance_loss,
)
from ember.nn.functional.normalization import (
    batch_norm,
    cosine_similarity,
    group_norm,
    instance_norm,
    layer_norm,
    local_response_norm,
    normalize,
    pdist,
    rms_norm,
)
from ember.nn.functional.pooling_extra import (
    adaptive_max_pool1d_with_indices,
    adaptive_max_pool2d_with_indices,
    channel_shuffle,
    lp_pool1d,
    lp_pool2d,
    lp_pool3d,
    max_pool1d_with_indices,
    max_pool2d_with_indices,
    max_pool3d_with_indices,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
    native_channel_shuffle,
)
from ember.nn.functional.resample import (
    interpolate,
    upsample,
    upsample_bilinear,
    upsample_nearest,
)
from ember.nn.functional_attention import (
    multi_head_attention_forward,
    scaled_dot_product_attention,
)
from ember.ops.conv import (
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    fold,
    unfold,
)
from ember.ops.nn_extra import (
    alpha_dropout,
    dropout,
    dropout1d,
    dropout2d,
    dropout3d,
    embedding,
    embedding_bag,
    feature_alpha_dropout,
    one_hot,
    pad,
    pixel_shuffle,
    pixel_unshuffle,
)
from ember.ops.pool import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    max_pool1d,
    max_pool2d,
    max_pool3d,
)


def _activation_module():
    try:
        return importlib.import_module("ember.ops.activation_math")
    except ImportError:
        return None


def _export_activations():
    module = _activation_module()
    for name in getattr(module, "FUNCTIONAL", ()):
        globals()[name] = getattr(module, name)


_export_activations()


def __getattr__(name):
    # Activations that land in ember.ops after this module was imported.
    module = _activation_module()
    if module is not None and name in getattr(module, "FUNCTIONAL", ()):
        return getattr(module, name)
    raise AttributeError(f"module 'ember.nn.functional' has no attribute '{name}'")
