"""ember.onnx.export: the written file, run in onnxruntime, gives ember's outputs."""

from __future__ import annotations

import io

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.onnx
from ember.onnx.errors import OnnxExporterError, UnsupportedOperatorError

onnx = pytest.importorskip("onnx", reason="the onnx package is not installed")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")


def _flat(x):
    if isinstance(x, (tuple, list)):
        return [t for v in x for t in _flat(v)]
    return [x]


def _run(data, inputs):
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, {n: t.numpy() for n, t in zip(names, _flat(inputs))})


def _export_and_compare(model, args, *others, dynamic_axes=None, **options):
    """Export on `args`, then check onnxruntime's outputs against ember's on `args` and on
    each of `others` (other sizes of the dynamic axes)."""
    model.eval()
    buffer = io.BytesIO()
    names = [f"x{i}" for i in range(len(_flat(args)))]
    ember.onnx.export(model, args, buffer, input_names=names, dynamic_axes=dynamic_axes, **options)
    for inputs in (args, *others):
        with ember.no_grad():
            expected = _flat(model(*inputs))
        got = _run(buffer.getvalue(), inputs)
        assert len(got) == len(expected)
        for e, g in zip(expected, got):
            assert g.shape == tuple(e.shape)
            np.testing.assert_allclose(g, e.numpy(), atol=1e-5, rtol=0)
    return onnx.load_from_string(buffer.getvalue())


@pytest.fixture(autouse=True)
def _seed():
    ember.manual_seed(0)


def test_mlp_with_a_dynamic_batch():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.Tanh(), nn.Softmax(-1))
    proto = _export_and_compare(
        model, (ember.randn(2, 4),), (ember.randn(7, 4),), dynamic_axes={"x0": {0: "batch"}}
    )
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    # parameters are initializers named as in state_dict
    assert {"0.weight", "0.bias", "2.weight"} <= {i.name for i in proto.graph.initializer}


def test_cnn_conv_pool_batchnorm_flatten():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=1, groups=2),
        nn.AvgPool2d(2, ceil_mode=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 2),
    )
    # eval-mode batch norm uses the running statistics: make them differ from 0 and 1
    model[1].running_mean.copy_(ember.randn(4))
    model[1].running_var.copy_(ember.rand(4) + 0.5)
    proto = _export_and_compare(
        model,
        (ember.randn(2, 3, 9, 9),),
        (ember.randn(5, 3, 9, 9),),
        dynamic_axes={"x0": {0: "batch"}},
    )
    ops = {n.op_type for n in proto.graph.node}
    assert {"Conv", "BatchNormalization", "MaxPool"} <= ops


def test_export_runs_the_model_in_eval_mode_and_restores_its_mode():
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.BatchNorm1d(4))
    before = model[2].running_mean.clone()
    buffer = io.BytesIO()
    ember.onnx.export(model, ember.randn(8, 3), buffer)
    assert model.training and model[1].training
    assert ember.equal(model[2].running_mean, before)  # no statistics were updated
    x = ember.randn(8, 3)
    model.eval()
    with ember.no_grad():
        expected = model(x)
    np.testing.assert_allclose(_run(buffer.getvalue(), [x])[0], expected.numpy(), atol=1e-5)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_recurrent_layers(kind, batch_first):
    model = getattr(nn, kind)(3, 5, num_layers=2, bidirectional=True, batch_first=batch_first)
    shape, other = ((2, 4, 3), (6, 4, 3)) if batch_first else ((4, 2, 3), (4, 6, 3))
    axis = 0 if batch_first else 1
    proto = _export_and_compare(
        model,
        (ember.randn(*shape),),
        (ember.randn(*other),),
        dynamic_axes={"x0": {axis: "batch"}},
    )
    assert kind in {n.op_type for n in proto.graph.node}


def test_lstm_with_initial_states():
    model = nn.LSTM(3, 5, num_layers=2)
    x = ember.randn(4, 2, 3)
    states = (ember.randn(2, 2, 5), ember.randn(2, 2, 5))
    _export_and_compare(model, (x, states))


@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_encoder(batch_first):
    layer = nn.TransformerEncoderLayer(
        8, 2, 16, dropout=0.1, batch_first=batch_first, activation="gelu"
    )
    model = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    shape, other = ((2, 5, 8), (3, 7, 8)) if batch_first else ((5, 2, 8), (7, 3, 8))
    axes = {0: "batch", 1: "seq"} if batch_first else {0: "seq", 1: "batch"}
    _export_and_compare(
        model, (ember.randn(*shape),), (ember.randn(*other),), dynamic_axes={"x0": axes}
    )


def test_comparisons_casts_and_indexing():
    class Net(nn.Module):
        def forward(self, x, idx):
            mask = (x > 0).float()
            picked = x.index_select(1, ember.tensor([3, 1]))  # a constant index
            return (x * mask)[:, 1:], x[..., -1], x[idx].exp(), picked

    x = ember.randn(3, 4)
    _export_and_compare(Net(), (x, ember.tensor([0, 2])))


def test_embedding_with_dynamic_batch_and_sequence():
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2))
    _export_and_compare(
        model,
        (ember.tensor([[1, 2, 3], [4, 5, 6]]),),
        (ember.tensor([[1, 2, 9, 0, 5]]),),
        dynamic_axes={"x0": {0: "batch", 1: "seq"}},
    )


def test_unsupported_op_names_the_op():
    class Net(nn.Module):
        def forward(self, x):
            return x.cumprod(0)

    with pytest.raises(UnsupportedOperatorError, match="'cumprod'.*supported: .*conv"):
        ember.onnx.export(Net(), (ember.randn(2, 3),), None)
    assert "lstm" in ember.onnx.supported_ops()


def test_a_value_computed_outside_ops_is_refused():
    class Net(nn.Module):
        def forward(self, x):
            frozen = ember.from_numpy(x.detach().numpy() * 2)  # not an op export can see
            return x + frozen

    with pytest.raises(OnnxExporterError, match="computed from the inputs"):
        ember.onnx.export(Net(), (ember.randn(2, 3),), None)


def test_a_size_baked_into_a_constant_is_refused_with_dynamic_axes():
    class Net(nn.Module):
        def forward(self, x):
            return x + ember.arange(x.shape[0]).float().unsqueeze(1)

    x = ember.randn(3, 2)
    _export_and_compare(Net(), (x,))  # static: fine
    with pytest.raises(OnnxExporterError, match="dynamic axis"):
        ember.onnx.export(Net(), (x,), None, input_names=["x"], dynamic_axes={"x": [0]})


def test_file_path_names_and_options(tmp_path):
    model = nn.Linear(3, 2)
    path = tmp_path / "model.onnx"
    with pytest.warns(UserWarning, match="opset 13"):
        ember.onnx.export(
            model,
            ember.randn(1, 3),
            str(path),
            input_names=["features"],
            output_names=["logits"],
            opset_version=11,
            export_params=True,
            do_constant_folding=True,
            verbose=False,
        )
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["features"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    assert proto.opset_import[0].version == 13
    with pytest.raises(ValueError, match="dynamic_axes"):
        ember.onnx.export(model, ember.randn(1, 3), None, dynamic_axes={"nope": [0]})
