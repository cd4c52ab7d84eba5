"""nn.utils.rnn: packing, padding, and recurrent layers on PackedSequence, against torch."""

import numpy as np
import pytest

import ember
from ember.nn.utils import rnn as ern


def _pair(torch, mode, bidirectional, batch_first):
    theirs = getattr(torch.nn, mode)(
        3, 4, num_layers=2, bidirectional=bidirectional, batch_first=batch_first
    ).double()
    ours = getattr(ember.nn, mode)(
        3, 4, num_layers=2, bidirectional=bidirectional, batch_first=batch_first
    ).double()
    ours.load_state_dict(
        {k: ember.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}
    )
    return theirs, ours


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [False, True])
def test_recurrent_layers_on_packed_input_match_torch(
    mode, bidirectional, batch_first, enforce_sorted, torch
):
    theirs, ours = _pair(torch, mode, bidirectional, batch_first)
    lengths = [5, 5, 3, 2] if enforce_sorted else [2, 5, 3, 5]
    x = np.random.default_rng(0).standard_normal((4, 5, 3) if batch_first else (5, 4, 3))
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    pack_t = torch.nn.utils.rnn.pack_padded_sequence(
        tx, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted
    )
    pack_e = ern.pack_padded_sequence(
        ex, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted
    )
    np.testing.assert_allclose(pack_e.data.detach().numpy(), pack_t.data.detach().numpy())
    assert pack_e.batch_sizes.tolist() == pack_t.batch_sizes.tolist()
    out_t, hidden_t = theirs(pack_t)
    out_e, hidden_e = ours(pack_e)
    assert isinstance(out_e, ern.PackedSequence)
    pad_t, len_t = torch.nn.utils.rnn.pad_packed_sequence(out_t, batch_first=batch_first)
    pad_e, len_e = ern.pad_packed_sequence(out_e, batch_first=batch_first)
    assert len_e.tolist() == len_t.tolist() == lengths
    np.testing.assert_allclose(pad_e.detach().numpy(), pad_t.detach().numpy(), atol=1e-12)
    h_t = hidden_t[0] if mode == "LSTM" else hidden_t
    h_e = hidden_e[0] if mode == "LSTM" else hidden_e
    np.testing.assert_allclose(h_e.detach().numpy(), h_t.detach().numpy(), atol=1e-12)
    (pad_t.sum() + h_t.pow(2).sum()).backward()
    (pad_e.sum() + h_e.pow(2).sum()).backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), atol=1e-12)
    for name, param in theirs.named_parameters():
        np.testing.assert_allclose(
            getattr(ours, name).grad.numpy(), param.grad.numpy(), atol=1e-12, err_msg=name
        )


def test_initial_state_is_taken_in_the_callers_batch_order(torch):
    theirs, ours = _pair(torch, "GRU", False, True)
    x = np.random.default_rng(1).standard_normal((3, 4, 3))
    h0 = np.random.default_rng(2).standard_normal((2, 3, 4))
    lengths = [1, 4, 2]
    out_t, h_t = theirs(
        torch.nn.utils.rnn.pack_padded_sequence(
            torch.tensor(x), lengths, batch_first=True, enforce_sorted=False
        ),
        torch.tensor(h0),
    )
    out_e, h_e = ours(
        ern.pack_padded_sequence(ember.tensor(x), lengths, batch_first=True, enforce_sorted=False),
        ember.tensor(h0),
    )
    np.testing.assert_allclose(h_e.detach().numpy(), h_t.detach().numpy(), atol=1e-12)


def test_pad_pack_and_unpack_helpers_match_torch(torch):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((n, 2)) for n in (3, 1, 4)]
    for side in ("right", "left"):
        for batch_first in (False, True):
            ours = ern.pad_sequence(
                [ember.tensor(a) for a in arrays], batch_first, -1.0, padding_side=side
            )
            theirs = torch.nn.utils.rnn.pad_sequence(
                [torch.tensor(a) for a in arrays], batch_first, -1.0, padding_side=side
            )
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    packed = ern.pack_sequence([ember.tensor(a) for a in arrays], enforce_sorted=False)
    back = ern.unpack_sequence(packed)
    assert [b.shape for b in back] == [(3, 2), (1, 2), (4, 2)]
    for a, b in zip(arrays, back):
        np.testing.assert_array_equal(b.numpy(), a)
    padded, lengths = ern.pad_packed_sequence(packed, total_length=6)
    assert padded.shape == (6, 3, 2) and lengths.tolist() == [3, 1, 4]
    assert [u.shape[0] for u in ern.unpad_sequence(padded, lengths)] == [3, 1, 4]


def test_errors_match_torch():
    x = ember.zeros(4, 3, 2)
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        ern.pack_padded_sequence(x, [1, 3, 2])
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
        ern.pack_padded_sequence(x, [3, 0, 0], enforce_sorted=False)
    with pytest.raises(ValueError, match="len\\(lengths\\)"):
        ern.pack_padded_sequence(x, [3, 2])
    packed = ern.pack_padded_sequence(x, [4, 2, 1])
    with pytest.raises(ValueError, match="total_length"):
        ern.pad_packed_sequence(packed, total_length=2)
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size"):
        ember.nn.LSTM(5, 4)(packed)
