"""Losses against torch: values and gradients, every reduction, and stability at +-1e4."""

import numpy as np
import pytest

import ember
from tests.nn.helpers import TOL

rng = np.random.default_rng(0)
LOGITS = rng.standard_normal((4, 5))
PROBS = 1 / (1 + np.exp(-rng.standard_normal((4, 5))))
TARGET_PROBS = rng.dirichlet(np.ones(5), size=4)
CLASSES = np.array([1, 0, 4, 2])
CLASSES_IGNORED = np.array([1, -100, 4, 2])
LOGITS_K = rng.standard_normal((2, 5, 3, 2))
CLASSES_K = np.array([[[1, 0], [4, 2], [3, 3]], [[0, 0], [1, -100], [2, 4]]])
SIGNS = np.array([1.0, -1.0, -1.0, 1.0])
WEIGHT5 = np.array([0.5, 1.0, 2.0, 0.1, 1.5])
WEIGHT_FULL = rng.random((4, 5))

# (functional name, float inputs that get gradients, other inputs, kwargs)
CASES = [
    ("mse_loss", [LOGITS, LOGITS.T.T * 0.5], [], {}),
    ("mse_loss", [LOGITS, LOGITS * 0.5], [], {"reduction": "sum"}),
    ("mse_loss", [LOGITS, LOGITS * 0.1], [], {"weight": WEIGHT_FULL}),
    ("l1_loss", [LOGITS, LOGITS * 0.1], [], {"weight": WEIGHT_FULL, "reduction": "sum"}),
    ("l1_loss", [LOGITS, LOGITS * 0.5], [], {"reduction": "none"}),
    ("smooth_l1_loss", [LOGITS * 2, LOGITS], [], {"beta": 0.5}),
    ("smooth_l1_loss", [LOGITS * 2, LOGITS], [], {"beta": 0.0}),
    ("huber_loss", [LOGITS * 3, LOGITS], [], {"delta": 0.7}),
    ("huber_loss", [LOGITS * 3, LOGITS], [], {"reduction": "none", "weight": WEIGHT_FULL}),
    ("cross_entropy", [LOGITS], [CLASSES], {}),
    ("cross_entropy", [LOGITS], [CLASSES_IGNORED], {"weight": WEIGHT5}),
    ("cross_entropy", [LOGITS], [CLASSES], {"reduction": "sum", "label_smoothing": 0.2}),
    ("cross_entropy", [LOGITS], [CLASSES_IGNORED], {"label_smoothing": 0.1, "weight": WEIGHT5}),
    ("cross_entropy", [LOGITS], [CLASSES_IGNORED], {"label_smoothing": 0.3}),
    (
        "cross_entropy",
        [LOGITS],
        [CLASSES_IGNORED],
        {"reduction": "none", "label_smoothing": 0.3, "weight": WEIGHT5},
    ),
    ("cross_entropy", [LOGITS, TARGET_PROBS], [], {}),
    ("cross_entropy", [LOGITS, TARGET_PROBS], [], {"label_smoothing": 0.1, "weight": WEIGHT5}),
    ("cross_entropy", [LOGITS, TARGET_PROBS], [], {"reduction": "none"}),
    ("cross_entropy", [LOGITS_K], [CLASSES_K], {}),
    ("cross_entropy", [LOGITS_K], [CLASSES_K], {"reduction": "none", "weight": WEIGHT5}),
    ("cross_entropy", [LOGITS_K], [CLASSES_K], {"label_smoothing": 0.2}),
    ("cross_entropy", [LOGITS[0]], [np.array(3)], {}),
    ("cross_entropy", [LOGITS[0], TARGET_PROBS[0]], [], {}),
    ("nll_loss", [LOGITS], [CLASSES], {}),
    ("nll_loss", [LOGITS], [CLASSES_IGNORED], {"weight": WEIGHT5, "reduction": "none"}),
    ("nll_loss", [LOGITS], [CLASSES], {"ignore_index": 4, "reduction": "sum"}),
    ("nll_loss", [LOGITS_K], [CLASSES_K], {"weight": WEIGHT5}),
    ("binary_cross_entropy", [PROBS, PROBS[::-1].copy()], [], {}),
    (
        "binary_cross_entropy",
        [PROBS, (PROBS > 0.5) * 1.0],
        [],
        {"weight": WEIGHT5, "reduction": "sum"},
    ),
    ("binary_cross_entropy_with_logits", [LOGITS, PROBS], [], {}),
    (
        "binary_cross_entropy_with_logits",
        [LOGITS, PROBS],
        [],
        {"pos_weight": WEIGHT5, "weight": WEIGHT5[::-1].copy(), "reduction": "none"},
    ),
    ("kl_div", [np.log(TARGET_PROBS[::-1].copy()), TARGET_PROBS], [], {"reduction": "batchmean"}),
    ("kl_div", [LOGITS, LOGITS * 0.5], [], {"log_target": True, "reduction": "sum"}),
    ("kl_div", [LOGITS, np.where(PROBS > 0.5, PROBS, 0.0)], [], {"reduction": "none"}),
    ("cosine_embedding_loss", [LOGITS, LOGITS[::-1].copy()], [SIGNS], {"margin": 0.1}),
    ("margin_ranking_loss", [LOGITS[:, 0].copy(), LOGITS[:, 1].copy(), SIGNS], [], {"margin": 0.3}),
    ("triplet_margin_loss", [LOGITS, LOGITS * 0.5, LOGITS[::-1].copy()], [], {}),
    (
        "triplet_margin_loss",
        [LOGITS, LOGITS * 0.5, LOGITS[::-1].copy()],
        [],
        {"p": 1, "swap": True, "margin": 2.0, "reduction": "none"},
    ),
    ("hinge_embedding_loss", [LOGITS[:, 0].copy(), SIGNS], [], {"margin": 0.5}),
    ("soft_margin_loss", [LOGITS[:, 0].copy()], [SIGNS], {}),
    ("multilabel_soft_margin_loss", [LOGITS, (PROBS > 0.5) * 1.0], [], {"weight": WEIGHT5}),
    ("multi_margin_loss", [LOGITS], [CLASSES], {}),
    ("multi_margin_loss", [LOGITS], [CLASSES], {"p": 2, "margin": 0.5, "weight": WEIGHT5}),
    ("poisson_nll_loss", [LOGITS, PROBS * 3], [], {}),
    ("poisson_nll_loss", [PROBS, PROBS * 3], [], {"log_input": False, "full": True}),
    ("gaussian_nll_loss", [LOGITS, LOGITS * 0.5, PROBS], [], {}),
    ("gaussian_nll_loss", [LOGITS, LOGITS * 0.5, PROBS], [], {"full": True, "reduction": "sum"}),
]


def _tensor(lib, a, dtype, grad):
    if np.asarray(a).dtype.kind in "iu":
        return lib.tensor(a)
    return lib.tensor(a, dtype=getattr(lib, dtype), requires_grad=grad)


def _compare(torch, name, floats, others, kwargs, dtype):
    def run(lib):
        xs = [_tensor(lib, a, dtype, True) for a in floats]
        rest = [_tensor(lib, a, dtype, False) for a in others]
        kw = {
            k: (_tensor(lib, v, dtype, False) if isinstance(v, np.ndarray) else v)
            for k, v in kwargs.items()
        }
        out = getattr(lib.nn.functional, name)(*xs, *rest, **kw)
        cotangent = np.random.default_rng(1).standard_normal(tuple(out.shape))
        grads = lib.autograd.grad(
            out, xs, lib.tensor(cotangent, dtype=out.dtype), allow_unused=True
        )
        return out, grads

    e_out, e_grads = run(ember)
    t_out, t_grads = run(torch)
    assert e_out.shape == tuple(t_out.shape)
    np.testing.assert_allclose(e_out.detach().numpy(), t_out.detach().numpy(), **TOL[dtype])
    for i, (e, t) in enumerate(zip(e_grads, t_grads)):
        if t is None:
            assert e is None or not e.numpy().any()
        else:
            np.testing.assert_allclose(e.numpy(), t.numpy(), err_msg=f"input {i}", **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "name, floats, others, kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_functional_loss_matches_torch(torch, name, floats, others, kwargs, dtype):
    _compare(torch, name, floats, others, kwargs, dtype)


BIG = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0], [0.0, 0.0, -1e4]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "name, floats, others, kwargs",
    [
        ("cross_entropy", [BIG], [np.array([1, 0, 2])], {}),
        ("cross_entropy", [BIG], [np.array([1, 0, 2])], {"label_smoothing": 0.1}),
        ("cross_entropy", [BIG, np.full((3, 3), 1 / 3)], [], {}),
        ("binary_cross_entropy_with_logits", [BIG, np.full((3, 3), 0.25)], [], {}),
        (
            "binary_cross_entropy_with_logits",
            [BIG, np.eye(3)],
            [],
            {"pos_weight": np.array([2.0, 0.5, 1.0])},
        ),
        # target's gradient at x = 0 or 1 is PyTorch's +-inf, ember's the clamped slope
        (
            "binary_cross_entropy",
            [np.array([0.0, 1.0, 1e-30, 0.5])],
            [np.array([1.0, 0.0, 0.3, 0.5])],
            {},
        ),
        ("nll_loss", [np.log(np.array([[1e-45, 1.0]]) + 0)], [np.array([0])], {}),
    ],
)
def test_losses_stable_at_extremes(torch, name, floats, others, kwargs, dtype):
    with np.errstate(divide="ignore"):
        _compare(torch, name, floats, others, kwargs, dtype)
    out = getattr(ember.nn.functional, name)(
        *[_tensor(ember, a, dtype, False) for a in floats + others],
        **{
            k: (_tensor(ember, v, dtype, False) if isinstance(v, np.ndarray) else v)
            for k, v in kwargs.items()
        },
    )
    if name != "nll_loss":
        assert np.isfinite(out.numpy()).all()


@pytest.mark.parametrize(
    "name, args, kwargs, inputs",
    [
        ("CrossEntropyLoss", (), {"label_smoothing": 0.1}, [LOGITS, CLASSES]),
        ("NLLLoss", (), {"ignore_index": 0}, [LOGITS, CLASSES]),
        ("MSELoss", (), {"reduction": "sum"}, [LOGITS, PROBS]),
        ("L1Loss", (), {}, [LOGITS, PROBS]),
        ("SmoothL1Loss", (), {"beta": 0.3}, [LOGITS, PROBS]),
        ("HuberLoss", (), {"delta": 0.3}, [LOGITS, PROBS]),
        ("BCELoss", (), {}, [PROBS, PROBS[::-1].copy()]),
        ("BCEWithLogitsLoss", (), {}, [LOGITS, PROBS]),
        ("KLDivLoss", (), {"reduction": "batchmean", "log_target": True}, [LOGITS, LOGITS]),
        ("CosineEmbeddingLoss", (), {}, [LOGITS, LOGITS[::-1].copy(), SIGNS]),
        ("MarginRankingLoss", (0.2,), {}, [LOGITS[:, 0].copy(), LOGITS[:, 1].copy(), SIGNS]),
        ("TripletMarginLoss", (), {"swap": True}, [LOGITS, LOGITS * 0.5, LOGITS * 2]),
        ("SoftMarginLoss", (), {}, [LOGITS[:, 0].copy(), SIGNS]),
        ("HingeEmbeddingLoss", (), {}, [LOGITS[:, 0].copy(), SIGNS]),
        ("MultiMarginLoss", (), {}, [LOGITS, CLASSES]),
        ("MultiLabelSoftMarginLoss", (), {}, [LOGITS, (PROBS > 0.5) * 1.0]),
        ("PoissonNLLLoss", (), {}, [LOGITS, PROBS]),
        ("GaussianNLLLoss", (), {}, [LOGITS, PROBS, PROBS]),
    ],
)
def test_loss_modules_match_torch(torch, name, args, kwargs, inputs):
    e_mod = getattr(ember.nn, name)(*args, **kwargs)
    t_mod = getattr(torch.nn, name)(*args, **kwargs)
    e_in = [_tensor(ember, a, "float64", i == 0) for i, a in enumerate(inputs)]
    t_in = [_tensor(torch, a, "float64", i == 0) for i, a in enumerate(inputs)]
    e, t = e_mod(*e_in), t_mod(*t_in)
    np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), **TOL["float64"])
    assert repr(e_mod) == repr(t_mod)
    assert list(e_mod.state_dict()) == list(t_mod.state_dict())


def test_weighted_loss_buffers(torch):
    e = ember.nn.CrossEntropyLoss(weight=ember.tensor(WEIGHT5))
    t = torch.nn.CrossEntropyLoss(weight=torch.tensor(WEIGHT5))
    assert list(e.state_dict()) == list(t.state_dict()) == ["weight"]
    e = ember.nn.BCEWithLogitsLoss(pos_weight=ember.ones(3))
    t = torch.nn.BCEWithLogitsLoss(pos_weight=torch.ones(3))
    assert list(e.state_dict()) == list(t.state_dict())


def test_loss_errors_match_torch(torch):
    def errors(lib):
        f = lib.nn.functional
        out = []
        for action in (
            lambda: f.nll_loss(lib.randn(3, 4), lib.tensor([0, 1, 5])),
            lambda: f.nll_loss(lib.randn(3, 4), lib.tensor([0, 1])),
            lambda: f.nll_loss(lib.randn(3, 4, 5), lib.zeros(3, 4).long()),
            lambda: f.nll_loss(lib.tensor(1.0), lib.tensor(0)),
            lambda: f.cross_entropy(lib.randn(3, 4), lib.rand(3, 4, 1)),
            lambda: f.binary_cross_entropy(lib.rand(3) + 1.5, lib.rand(3)),
            lambda: f.mse_loss(lib.rand(3), lib.rand(3), reduction="foo"),
        ):
            try:
                action()
                out.append(None)
            except Exception as exc:  # noqa: BLE001
                out.append((type(exc).__name__, str(exc).replace("torch.", "ember.")))
        return out

    assert errors(ember) == errors(torch)


def test_legacy_reduction_flags(torch):
    with pytest.warns(UserWarning, match="size_average and reduce"):
        e = ember.nn.MSELoss(size_average=False)
    assert e.reduction == "sum"
    x = ember.ones(3)
    assert e(x, x * 0).item() == 3.0
    with pytest.warns(UserWarning, match="size_average and reduce"):
        assert ember.nn.functional.l1_loss(x, x * 0, reduce=False).shape == (3,)


def test_mse_broadcast_warning():
    with pytest.warns(UserWarning, match="different to the input size"):
        ember.nn.functional.mse_loss(ember.ones(3), ember.ones(3, 1))


def test_cross_entropy_all_ignored_is_nan(torch):
    out = ember.nn.functional.cross_entropy(ember.randn(3, 4), ember.tensor([-100] * 3))
    assert np.isnan(out.item())
