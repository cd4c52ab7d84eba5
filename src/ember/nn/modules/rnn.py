"""Recurrent layers: RNN, LSTM, GRU and their cells, with PyTorch's parameters and checks.

The layers keep PyTorch's parameter names (weight_ih_l0, bias_hh_l1_reverse, ...) so
state_dicts move between the two libraries; the math lives in ember.ops.recurrent. A
PackedSequence input runs step by step over its shrinking batch (`_packed_layer`), so each
sequence stops at its own length. LSTM's proj_size is not supported.
"""

from __future__ import annotations

import math
import numbers
import warnings

from ember._tensor import Tensor
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules._factory import new_parameter
from ember.nn.modules.module import Module
from ember.ops import recurrent
from ember.ops.creation import zeros
from ember.ops.join import cat, stack

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


class RNNBase(Module):
    """Same as torch.nn.RNNBase: the parameters and checks shared by RNN, LSTM and GRU."""

    def __init__(
        self,
        mode,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        proj_size=0,
        device=None,
        dtype=None,
    ):
        super().__init__()
        _check_config(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout)
        if proj_size < 0:
            raise ValueError(
                "proj_size should be a positive integer or zero to disable projections"
            )
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size > 0:
            raise NotImplementedError("ember's LSTM does not support proj_size > 0")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(directions):
                layer_input = input_size if layer == 0 else hidden_size * directions
                suffix = "_reverse" if direction == 1 else ""
                shapes = {
                    "weight_ih": (gate_size, layer_input),
                    "weight_hh": (gate_size, hidden_size),
                }
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                names = []
                for kind, shape in shapes.items():
                    name = f"{kind}_l{layer}{suffix}"
                    setattr(self, name, new_parameter(*shape, device=device, dtype=dtype))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    @property
    def _flat_weights(self):
        """The parameters in the order the recurrent functions take them."""
        return [getattr(self, name, None) for name in self._flat_weights_names]

    @property
    def all_weights(self):
        """Same as torch.nn.LSTM.all_weights: the parameters, one list per layer and direction."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self):
        """Same as torch.nn.LSTM.flatten_parameters (a no-op: there is no cuDNN buffer)."""

    def reset_parameters(self):
        """PyTorch's default: every weight and bias ~ U(-1/sqrt(hidden_size), +)."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def check_input(self, input, batch_sizes=None):
        """Same as torch.nn.RNNBase.check_input: dtype, rank and feature size."""
        weight = self._flat_weights[0]
        if input.dtype != weight.dtype:
            raise ValueError(
                f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight.dtype}). "
                f"Convert input: input.to({weight.dtype}), or convert model: "
                f"model.to({input.dtype})"
            )
        expected = 2 if batch_sizes is not None else 3
        if input.dim() != expected:
            raise RuntimeError(f"input must have {expected} dimensions, got {input.dim()}")
        if self.input_size != input.shape[-1]:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                f"got {input.shape[-1]}"
            )

    def get_expected_hidden_size(self, input, batch_sizes=None):
        """Same as torch.nn.RNNBase.get_expected_hidden_size."""
        batch = input.shape[0] if self.batch_first else input.shape[1]
        directions = 2 if self.bidirectional else 1
        return (self.num_layers * directions, batch, self.hidden_size)

    def check_hidden_size(self, hx, expected_hidden_size, msg="Expected hidden size {}, got {}"):
        """Same as torch.nn.RNNBase.check_hidden_size."""
        if tuple(hx.shape) != tuple(expected_hidden_size):
            raise RuntimeError(msg.format(tuple(expected_hidden_size), list(hx.shape)))

    def check_forward_args(self, input, hidden, batch_sizes=None):
        """Same as torch.nn.RNNBase.check_forward_args."""
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hidden, self.get_expected_hidden_size(input, batch_sizes))

    def permute_hidden(self, hx, permutation):
        """Same as torch.nn.RNNBase.permute_hidden (hidden states in batch order)."""
        if permutation is None:
            return hx
        return hx.index_select(1, permutation)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    def _zeros(self, input, batch):
        directions = 2 if self.bidirectional else 1
        shape = (self.num_layers * directions, batch, self.hidden_size)
        return zeros(shape, dtype=input.dtype, device=input.device)

    def _batched(self, input, name):
        _check_is_tensor(input, name)
        if input.dim() not in (2, 3):
            tensor = " tensor" if name == "RNN" else ""  # PyTorch's wording differs by class
            raise ValueError(
                f"{name}: Expected input to be 2D or 3D, got {input.dim()}D{tensor} instead"
            )
        is_batched = input.dim() == 3
        if not is_batched:
            input = input.unsqueeze(0 if self.batch_first else 1)
        return input, is_batched

    def _run(self, fn, input, hx):
        return fn(
            input,
            hx,
            self._flat_weights,
            self.bias,
            self.num_layers,
            self.dropout,
            self.training,
            self.bidirectional,
            self.batch_first,
        )

    def _forward_packed(self, packed, hx):
        """A PackedSequence through every layer and direction; returns (output, h_n[, c_n])."""
        from ember.nn.utils.rnn import PackedSequence

        data, batch_sizes = packed.data, packed.batch_sizes.tolist()
        self.check_input(data, packed.batch_sizes)
        lstm = self.mode == "LSTM"
        if hx is None:
            states = [self._zeros(data, batch_sizes[0])] * (2 if lstm else 1)
        else:
            hx = self.permute_hidden(hx, packed.sorted_indices)  # into packed order
            states = list(hx) if lstm else [hx]
            expected = (self.num_layers * (2 if self.bidirectional else 1), batch_sizes[0])
            for state in states:
                self.check_hidden_size(state, (*expected, self.hidden_size))
        directions = 2 if self.bidirectional else 1
        finals = [[] for _ in states]
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                k = layer * directions + direction
                weights = [getattr(self, name) for name in self._all_weights[k]]
                initial = tuple(state[k] for state in states)
                out, last = _packed_layer(self.mode, data, batch_sizes, weights, initial, direction)
                outputs.append(out)
                for final, value in zip(finals, last):
                    final.append(value)
            data = cat(outputs, 1) if directions == 2 else outputs[0]
            if self.dropout and self.training and layer < self.num_layers - 1:
                data = F.dropout(data, self.dropout, True)
        output = PackedSequence(data, packed.batch_sizes, packed.sorted_indices,
                                packed.unsorted_indices)  # fmt: skip
        hidden = tuple(stack(final) for final in finals)
        hidden = self.permute_hidden(hidden if lstm else hidden[0], packed.unsorted_indices)
        return output, hidden

    def _forward_single_state(self, fn, name, input, hx):
        """RNN and GRU: one hidden state."""
        if _is_packed(input):
            return self._forward_packed(input, hx)
        input, is_batched = self._batched(input, name)
        if hx is not None:
            if is_batched and hx.dim() != 3:
                raise RuntimeError(
                    f"For batched 3-D input, hx should also be 3-D but got {hx.dim()}-D tensor"
                )
            if not is_batched:
                if hx.dim() != 2:
                    raise RuntimeError(
                        "For unbatched 2-D input, hx should also be 2-D but got "
                        f"{hx.dim()}-D tensor"
                    )
                hx = hx.unsqueeze(1)
        else:
            hx = self._zeros(input, input.shape[0] if self.batch_first else input.shape[1])
        self.check_forward_args(input, hx)
        output, hidden = self._run(fn, input, hx)
        if not is_batched:
            output = output.squeeze(0 if self.batch_first else 1)
            hidden = hidden.squeeze(1)
        return output, hidden


def _is_packed(input):
    from ember.nn.utils.rnn import PackedSequence

    return isinstance(input, PackedSequence)


def _cell(mode, x, state, weights):
    """One step of `mode`'s cell on rows x with states `state`; returns the new states."""
    w_ih, w_hh, *bias = weights
    b_ih, b_hh = bias or (None, None)
    h = state[0]
    gi, gh = F.linear(x, w_ih, b_ih), F.linear(h, w_hh, b_hh)
    if mode == "LSTM":
        i, f, g, o = (gi + gh).chunk(4, 1)
        c = f.sigmoid() * state[1] + i.sigmoid() * g.tanh()
        return o.sigmoid() * c.tanh(), c
    if mode == "GRU":
        ir, iz, in_ = gi.chunk(3, 1)
        hr, hz, hn = gh.chunk(3, 1)
        r, z = (ir + hr).sigmoid(), (iz + hz).sigmoid()
        n = (in_ + r * hn).tanh()
        return ((1 - z) * n + z * h,)
    pre = gi + gh
    return (pre.tanh() if mode == "RNN_TANH" else pre.relu(),)


def _packed_layer(mode, data, batch_sizes, weights, initial, reverse):
    """One direction of one layer over packed rows. At step t the first batch_sizes[t]
    sequences are running; the others keep their state (finished ones their last, in the
    forward direction; not yet started ones their initial state, in the reverse one)."""
    starts = [0]
    for size in batch_sizes:
        starts.append(starts[-1] + size)
    states, outputs = initial, [None] * len(batch_sizes)
    steps = range(len(batch_sizes) - 1, -1, -1) if reverse else range(len(batch_sizes))
    for t in steps:
        n = batch_sizes[t]
        new = _cell(mode, data[starts[t] : starts[t + 1]], [s[:n] for s in states], weights)
        outputs[t] = new[0]
        full = states[0].shape[0]
        states = tuple(a if n == full else cat([a, s[n:]]) for a, s in zip(new, states))
    return cat(outputs), states


def _check_is_tensor(input, name):
    if not isinstance(input, Tensor):
        raise TypeError(
            f"{name}: expected input to be a Tensor, got {type(input).__name__} "
            "(PackedSequence is not supported by ember)"
        )


def _check_config(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout):
    """PyTorch's constructor checks, with its messages."""
    if (
        not isinstance(dropout, numbers.Number)
        or isinstance(dropout, bool)
        or not 0 <= dropout <= 1
    ):
        raise ValueError(
            "dropout should be a number in range [0, 1] representing the probability of an "
            "element being zeroed"
        )
    if dropout > 0 and num_layers == 1:
        warnings.warn(
            "dropout option adds dropout after all but last recurrent layer, so non-zero "
            f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
            f"num_layers={num_layers}",
            stacklevel=4,
        )
    if not isinstance(bias, bool):
        raise TypeError(f"bias should be of type bool, got: {type(bias).__name__}")
    if not isinstance(batch_first, bool):
        raise TypeError(f"batch_first should be of type bool, got: {type(batch_first).__name__}")
    if not isinstance(input_size, int):
        raise TypeError(f"input_size should be of type int, got: {type(input_size).__name__}")
    if input_size <= 0:
        raise ValueError("input_size must be greater than zero")
    if not isinstance(hidden_size, int):
        raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
    if hidden_size <= 0:
        raise ValueError("hidden_size must be greater than zero")
    if num_layers <= 0:
        raise ValueError("num_layers must be greater than zero")
    if mode not in _GATES:
        raise ValueError("Unrecognized RNN mode: " + mode)


class RNN(RNNBase):
    """Same as torch.nn.RNN: h_t = tanh (or relu)(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh).

    RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None)
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:  # nonlinearity is the fourth positional argument, as PyTorch
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        super().__init__(mode, *args, **kwargs)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        fn = recurrent.rnn_tanh if self.mode == "RNN_TANH" else recurrent.rnn_relu
        return self._forward_single_state(fn, "RNN", input, hx)


class LSTM(RNNBase):
    """A multi-layer long short-term memory network, as torch.nn.LSTM (without proj_size).

    `LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, proj_size=0, device=None, dtype=None)`

    For each element x_t of the sequence, each layer computes, from the previous hidden state
    h_{t-1} and cell state c_{t-1} (sigma is the sigmoid, * the elementwise product):

        i_t = sigma(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)     input gate
        f_t = sigma(W_if x_t + b_if + W_hf h_{t-1} + b_hf)     forget gate
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)      cell candidate
        o_t = sigma(W_io x_t + b_io + W_ho h_{t-1} + b_ho)     output gate
        c_t = f_t * c_{t-1} + i_t * g_t
        h_t = o_t * tanh(c_t)

    A layer above the first takes the hidden states of the layer below as its input.
    Calling the module returns `output, (h_n, c_n)`. A `PackedSequence`
    (`nn.utils.rnn.pack_padded_sequence`) is accepted as input and gives a packed output.

    Args:
        input_size (int): features in each input element (H_in).
        hidden_size (int): features in the hidden and cell states (H_hidden).
        num_layers (int): stacked LSTM layers.
        bias (bool): if False, the layers have no b_ih and b_hh.
        batch_first (bool): if True, input and output are `(N, L, features)` instead of
            `(L, N, features)`; the states keep their layout.
        dropout (float): probability of dropout on each layer's output but the last (in
            training mode only).
        bidirectional (bool): if True, each layer also runs over the reversed sequence and
            the two directions' outputs are concatenated (D = 2, otherwise D = 1).
        proj_size (int): must be 0: ember's LSTM has no projections (larger values raise
            NotImplementedError).
        device (str | ember.device | None): where the parameters live; the CPU if None.
        dtype (ember.dtype | None): the parameters' dtype; the default dtype if None.

    Shape:
        - input: `(L, N, H_in)`, `(N, L, H_in)` with `batch_first=True`, or unbatched
          `(L, H_in)`, where L is the sequence length and N the batch size.
        - hx (optional): a tuple `(h_0, c_0)`, each `(D * num_layers, N, H_hidden)` (or
          `(D * num_layers, H_hidden)` unbatched); zeros if omitted.
        - output: `(L, N, D * H_hidden)` (or `(N, L, D * H_hidden)` with `batch_first`): the
          last layer's h_t for every t.
        - h_n, c_n: `(D * num_layers, N, H_hidden)`: each layer's and direction's final states.

    Weights:
        For each layer k (the reverse direction's names end in `_reverse`):

        - `weight_ih_l{k}`: the input weights `(W_ii|W_if|W_ig|W_io)`, shape
          `(4 * hidden_size, input_size)` for k = 0, `(4 * hidden_size, D * hidden_size)`
          above.
        - `weight_hh_l{k}`: the hidden weights, `(4 * hidden_size, hidden_size)`.
        - `bias_ih_l{k}`, `bias_hh_l{k}`: `(4 * hidden_size,)` each.

        Every weight and bias starts from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).

    Examples:
        >>> import ember
        >>> lstm = ember.nn.LSTM(10, 20, num_layers=2)
        >>> x = ember.randn(5, 3, 10)                   # 5 steps, batch of 3
        >>> h0, c0 = ember.zeros(2, 3, 20), ember.zeros(2, 3, 20)
        >>> output, (h_n, c_n) = lstm(x, (h0, c0))
        >>> tuple(output.shape), tuple(h_n.shape), tuple(c_n.shape)
        ((5, 3, 20), (2, 3, 20), (2, 3, 20))
    """

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)

    def get_expected_cell_size(self, input, batch_sizes=None):
        """Same as torch.nn.LSTM.get_expected_cell_size."""
        return self.get_expected_hidden_size(input, batch_sizes)

    def check_forward_args(self, input, hidden, batch_sizes=None):
        """Same as torch.nn.LSTM.check_forward_args: both states are checked."""
        self.check_input(input, batch_sizes)
        expected = self.get_expected_hidden_size(input, batch_sizes)
        self.check_hidden_size(hidden[0], expected, "Expected hidden[0] size {}, got {}")
        self.check_hidden_size(hidden[1], expected, "Expected hidden[1] size {}, got {}")

    def permute_hidden(self, hx, permutation):
        """Same as torch.nn.LSTM.permute_hidden."""
        if permutation is None:
            return hx
        return hx[0].index_select(1, permutation), hx[1].index_select(1, permutation)

    def forward(self, input, hx=None):
        if _is_packed(input):
            return self._forward_packed(input, hx)
        input, is_batched = self._batched(input, "LSTM")
        if hx is None:
            batch = input.shape[0] if self.batch_first else input.shape[1]
            hx = (self._zeros(input, batch), self._zeros(input, batch))
        else:
            h, c = hx
            wanted = 3 if is_batched else 2
            if h.dim() != wanted or c.dim() != wanted:
                kind = "batched 3-D" if is_batched else "unbatched 2-D"
                raise RuntimeError(
                    f"For {kind} input, hx and cx should also be {wanted}-D but got "
                    f"({h.dim()}-D, {c.dim()}-D) tensors"
                )
            if not is_batched:
                hx = (h.unsqueeze(1), c.unsqueeze(1))
        self.check_forward_args(input, hx)
        output, h_n, c_n = self._run(recurrent.lstm, input, tuple(hx))
        if not is_batched:
            output = output.squeeze(0 if self.batch_first else 1)
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)
        return output, (h_n, c_n)


class GRU(RNNBase):
    """Same as torch.nn.GRU: returns output, h_n.

    GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, device=None, dtype=None)
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)

    def forward(self, input, hx=None):
        return self._forward_single_state(recurrent.gru, "GRU", input, hx)


# --- cells ---
class RNNCellBase(Module):
    """Same as torch.nn.RNNCellBase: weight_ih, weight_hh, bias_ih, bias_hh of one cell."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        gates = num_chunks * hidden_size
        self.weight_ih = new_parameter(gates, input_size, device=device, dtype=dtype)
        self.weight_hh = new_parameter(gates, hidden_size, device=device, dtype=dtype)
        if bias:
            self.bias_ih = new_parameter(gates, device=device, dtype=dtype)
            self.bias_hh = new_parameter(gates, device=device, dtype=dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def reset_parameters(self):
        """PyTorch's default: every weight and bias ~ U(-1/sqrt(hidden_size), +)."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _batched(self, input, hx, name):
        """input and states as 2-D batches; whether the input was batched."""
        _check_is_tensor(input, name)
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        is_batched = input.dim() == 2
        if not is_batched:
            input = input.unsqueeze(0)
        if hx is None:
            hx = zeros(input.shape[0], self.hidden_size, dtype=input.dtype, device=input.device)
        elif not is_batched:
            hx = hx.unsqueeze(0)
        return input, hx, is_batched


class RNNCell(RNNCellBase):
    """Same as torch.nn.RNNCell: h' = tanh (or relu)(x W_ih^T + b_ih + h W_hh^T + b_hh)."""

    def __init__(
        self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None
    ):
        super().__init__(input_size, hidden_size, bias, 1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        if hx is not None and hx.dim() not in (1, 2):
            raise ValueError(f"RNNCell: Expected hidden to be 1D or 2D, got {hx.dim()}D instead")
        input, hx, is_batched = self._batched(input, hx, "RNNCell")
        if self.nonlinearity == "tanh":
            fn = recurrent.rnn_tanh_cell
        elif self.nonlinearity == "relu":
            fn = recurrent.rnn_relu_cell
        else:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        out = fn(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out if is_batched else out.squeeze(0)


class LSTMCell(RNNCellBase):
    """Same as torch.nn.LSTMCell: returns (h', c')."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if hx is not None:
            for k, value in enumerate(hx):
                if value.dim() not in (1, 2):
                    raise ValueError(
                        f"LSTMCell: Expected hx[{k}] to be 1D or 2D, got {value.dim()}D instead"
                    )
        h = None if hx is None else hx[0]
        input, h, is_batched = self._batched(input, h, "LSTMCell")
        if hx is None:
            c = h
        else:
            c = hx[1] if is_batched else hx[1].unsqueeze(0)
        h, c = recurrent.lstm_cell(
            input, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh
        )
        return (h, c) if is_batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """Same as torch.nn.GRUCell."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if hx is not None and hx.dim() not in (1, 2):
            raise ValueError(f"GRUCell: Expected hidden to be 1D or 2D, got {hx.dim()}D instead")
        input, hx, is_batched = self._batched(input, hx, "GRUCell")
        out = recurrent.gru_cell(
            input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh
        )
        return out if is_batched else out.squeeze(0)
