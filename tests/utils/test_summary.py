"""ember.utils.summary: layers, output shapes and parameter counts, as torchinfo's table."""

import re

import numpy as np
import pytest

import ember
from ember import nn
from ember.utils.summary import LayerInfo, ModelSummary


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(4 * 4 * 4, 10),
    )


class Nested(nn.Module):
    """Children that have children, an RNN (a tuple out), a module the forward never calls."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(4, 8), nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8))
        )
        self.rnn = nn.GRU(8, 5, batch_first=True)
        self.head = nn.Linear(5, 2)
        self.unused = nn.Linear(3, 3)

    def forward(self, x):
        out, _ = self.rnn(self.encoder(x).unsqueeze(1))
        return self.head(out[:, -1])


def test_rows_of_a_sequential_cnn():
    model = small_cnn()
    result = ember.utils.summary(model, (32, 1, 8, 8), verbose=0)
    assert isinstance(result, ModelSummary)
    assert [(r.kind, r.depth, r.index) for r in result.rows] == [
        ("Sequential", 0, 1),
        *((kind, 1, i) for i, kind in enumerate(
            ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Dropout", "Linear"], start=1
        )),
    ]  # fmt: skip
    # every layer's output shape is what running the layers one by one gives
    x = ember.zeros(32, 1, 8, 8)
    for row, layer in zip(result.rows[1:], model):
        x = layer(x)
        assert row.output_shapes == [list(x.shape)], row
    assert result.rows[0].output_shapes == [[32, 10]]
    assert [r.params for r in result.rows] == [None, 40, None, None, None, None, 650]
    assert result.total_params == result.trainable_params == 690
    assert result.param_bytes == 690 * 4
    assert result.input_bytes == 32 * 64 * 4


def test_the_table_reads_like_torchinfos():
    text = str(ember.utils.summary(small_cnn(), (32, 1, 8, 8), verbose=0))
    lines = text.splitlines()
    assert set(lines[0]) == {"="} and lines[0] == lines[2] == lines[-1]
    assert re.fullmatch(r"Layer \(type:depth-idx\) +Output Shape +Param #", lines[1])
    assert re.fullmatch(r"Sequential +\[32, 10\] +--", lines[3])
    assert re.fullmatch(r"├─Conv2d: 1-1 +\[32, 4, 8, 8\] +40", lines[4])
    assert re.fullmatch(r"└─Linear: 1-6 +\[32, 10\] +650", lines[9])
    assert "Total params: 690" in lines
    assert "Trainable params: 690" in lines and "Non-trainable params: 0" in lines
    assert "Params size (MB): 0.00" in lines
    # the columns line up: each row's shape starts where the header's does
    column = lines[1].index("Output Shape")
    assert all(line[column - 1] == " " and line[column] != " " for line in lines[3:10])
    assert repr(ember.utils.summary(small_cnn(), (32, 1, 8, 8), verbose=0)) == text


def test_nested_modules_form_a_tree_down_to_depth():
    result = ember.utils.summary(Nested(), (3, 4), verbose=0)
    table = [(r.prefix + r.kind, r.depth, r.index, r.output_shapes, r.params) for r in result.rows]
    assert table == [
        ("Nested", 0, 1, [[3, 2]], None),
        ("├─Sequential", 1, 1, [[3, 8]], None),
        ("│    ├─Linear", 2, 1, [[3, 8]], 40),
        ("│    └─Sequential", 2, 2, [[3, 8]], None),
        ("│         ├─Linear", 3, 1, [[3, 8]], 72),
        ("│         └─BatchNorm1d", 3, 2, [[3, 8]], 16),
        ("├─GRU", 1, 2, [[3, 1, 5], [1, 3, 5]], 3 * (8 * 5 + 5 * 5 + 5 + 5)),
        ("├─Linear", 1, 3, [[3, 2]], 12),
        ("└─Linear", 1, 4, [], 12),  # never called: no output shape
    ]
    assert [r.name for r in result.rows] == [
        "", "encoder", "encoder.0", "encoder.1", "encoder.1.0", "encoder.1.1", "rnn", "head",
        "unused",
    ]  # fmt: skip
    assert "[3, 1, 5], [1, 3, 5]" in str(result)
    assert re.search(r"└─Linear: 1-4 +-- +12$", str(result), re.M)


def test_a_row_whose_children_are_hidden_counts_their_parameters():
    model = Nested()
    result = ember.utils.summary(model, (3, 4), depth=1, verbose=0)
    assert [(r.kind, r.params) for r in result.rows] == [
        ("Nested", None),
        ("Sequential", 40 + 72 + 16),
        ("GRU", 225),
        ("Linear", 12),
        ("Linear", 12),
    ]
    assert sum(r.params for r in result.rows if r.params) == result.total_params
    assert result.total_params == sum(p.numel() for p in model.parameters())
    only_model = ember.utils.summary(model, (3, 4), depth=0, verbose=0)
    assert [(r.kind, r.params) for r in only_model.rows] == [("Nested", result.total_params)]


def test_frozen_parameters_are_not_trainable():
    model = small_cnn()
    model[0].weight.requires_grad_(False)
    result = ember.utils.summary(model, (2, 1, 8, 8), verbose=0)
    assert (result.total_params, result.trainable_params) == (690, 690 - 36)
    assert "Non-trainable params: 36" in str(result)


def test_the_model_and_the_random_state_are_left_as_they_were():
    model = Nested()
    model.train()
    model.encoder.eval()  # a mix of modes comes back as it was
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    ember.manual_seed(7)
    expected = ember.rand(5)
    ember.manual_seed(7)
    ember.utils.summary(model, (3, 4), verbose=0)
    assert model.training and model.rnn.training and not model.encoder.training
    assert not model.encoder[1][1].training
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k].numpy()) for k in before)  # BatchNorm stats
    assert all(p.grad is None for p in model.parameters())
    assert all(not m._forward_hooks for m in model.modules())
    assert ember.equal(ember.rand(5), expected)  # no random number was drawn


def test_input_data_several_inputs_and_dtypes():
    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 3)
            self.scale = nn.Linear(1, 3)

        def forward(self, tokens, weights):
            return self.embed(tokens) * self.scale(weights)

    by_size = ember.utils.summary(
        Pair(), [(2, 5), (2, 5, 1)], dtypes=[ember.int64, ember.float32], verbose=0
    )
    assert by_size.rows[0].output_shapes == [[2, 5, 3]]
    assert by_size.input_bytes == 2 * 5 * 8 + 2 * 5 * 4
    data = (ember.tensor([[1, 2]]), ember.ones(1, 2, 1))
    by_data = ember.utils.summary(Pair(), input_data=data, verbose=0)
    assert [r.output_shapes for r in by_data.rows] == [[[1, 2, 3]], [[1, 2, 3]], [[1, 2, 3]]]
    one = ember.utils.summary(nn.Linear(2, 1), input_data=ember.ones(4, 2), verbose=0)
    assert one.rows == [LayerInfo("", "Linear", 0, 1, [[4, 1]], 3, "")]


def test_prints_unless_verbose_0(capsys):
    result = ember.utils.summary(small_cnn(), (1, 1, 8, 8))
    assert capsys.readouterr().out == str(result) + "\n"
    ember.utils.summary(small_cnn(), (1, 1, 8, 8), verbose=0)
    assert capsys.readouterr().out == ""


def test_bad_arguments_and_a_failing_forward():
    model = small_cnn()
    with pytest.raises(TypeError, match="model must be an ember.nn.Module, got function"):
        ember.utils.summary(lambda x: x, (1, 2))
    with pytest.raises(ValueError, match="exactly one of input_size and input_data"):
        ember.utils.summary(model)
    with pytest.raises(ValueError, match="exactly one of input_size and input_data"):
        ember.utils.summary(model, (1, 1, 8, 8), input_data=ember.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"input_size is a shape such as \(32, 1, 28, 28\)"):
        ember.utils.summary(model, (1, 1, 8.0, 8))
    with pytest.raises(ValueError, match="input_size is a shape"):
        ember.utils.summary(model, 8)
    with pytest.raises(ValueError, match="input_size is a shape"):
        ember.utils.summary(model, [(1, 4), (1, -4)])
    with pytest.raises(ValueError, match="2 input sizes but 1 dtypes"):
        ember.utils.summary(model, [(1, 4), (1, 4)], dtypes=[ember.float32])
    with pytest.raises(ValueError, match="depth must be an integer >= 0"):
        ember.utils.summary(model, (1, 1, 8, 8), depth=-1)
    with pytest.raises(TypeError, match="input_data is a tensor or a tuple of tensors"):
        ember.utils.summary(model, input_data=[[1.0]])
    model.train()
    with pytest.raises(RuntimeError, match=r"running Sequential on inputs of size \[1, 1, 6, 6\]"):
        ember.utils.summary(model, (1, 1, 6, 6), verbose=0)  # 6x6 does not flatten to 64
    assert model.training and model[4].training
    assert all(not m._forward_hooks for m in model.modules())


def test_exported_from_ember_utils():
    from ember.utils import summary

    assert summary is ember.utils.summary
    assert summary.__module__ == "ember.utils.summary"
