"""Variable-length sequences: PackedSequence and the pack/pad helpers of torch.nn.utils.rnn.

A PackedSequence stores a batch of sequences time step by time step: `data` holds, for each
step t, the rows of the `batch_sizes[t]` sequences still running at t, longest sequences
first. `sorted_indices` maps that order back to the caller's batch order.
"""

from __future__ import annotations

from typing import NamedTuple

from ember._tensor import Tensor
from ember.ops.creation import as_tensor, full, tensor
from ember.ops.join import cat, stack


class PackedSequence(NamedTuple):
    """Same as torch.nn.utils.rnn.PackedSequence: (data, batch_sizes, sorted_indices,
    unsorted_indices), as pack_padded_sequence and the recurrent layers make it."""

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def to(self, *args, **kwargs):
        """The same sequence with `data` moved or cast as Tensor.to does (indices stay)."""
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else self._replace(data=data)

    def cpu(self):
        """Same as torch's PackedSequence.cpu."""
        return self.to("cpu")

    def double(self):
        """Same as torch's PackedSequence.double."""
        return self.to(dtype="float64")

    def float(self):
        """Same as torch's PackedSequence.float."""
        return self.to(dtype="float32")

    @property
    def is_cuda(self):
        """Whether `data` is on a CUDA device."""
        return self.data.is_cuda


def _lengths_list(lengths, op):
    if isinstance(lengths, Tensor):
        if lengths.dim() != 1:
            raise ValueError(f"{op}: lengths must be a 1-D tensor, got {lengths.dim()}-D")
        values = lengths.tolist()
    else:
        values = list(lengths)
    if any(not float(v).is_integer() for v in values):
        raise TypeError(f"{op}: lengths must be integers, got {values}")
    return [int(v) for v in values]


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Same as torch.nn.utils.rnn.pack_padded_sequence: a padded batch (T x B x * or
    B x T x * with batch_first) and each sequence's length become a PackedSequence."""
    lengths = _lengths_list(lengths, "pack_padded_sequence")
    batch_dim = 0 if batch_first else 1
    if len(lengths) != input.shape[batch_dim]:
        raise ValueError(
            f"Expected `len(lengths)` to be equal to batch_size, but got {len(lengths)} "
            f"(batch_size={input.shape[batch_dim]})"
        )
    if any(n <= 0 for n in lengths):
        raise RuntimeError(
            "Length of all samples has to be greater than 0, but found an element in "
            "'lengths' that is <= 0"
        )
    if max(lengths) > input.shape[1 - batch_dim]:
        raise RuntimeError(
            f"pack_padded_sequence: a length ({max(lengths)}) exceeds the padded sequence "
            f"length ({input.shape[1 - batch_dim]})"
        )
    if enforce_sorted:
        if any(a < b for a, b in zip(lengths, lengths[1:])):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                "pack_sequence to sidestep this requirement if you do not need ONNX "
                "exportability."
            )
        sorted_indices = None
        order = list(range(len(lengths)))
    else:
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])  # stable, as torch
        sorted_indices = tensor(order, device=input.device)
        input = input.index_select(batch_dim, sorted_indices)
    if batch_first:
        input = input.transpose(0, 1)
    sorted_lengths = [lengths[i] for i in order]
    batch_sizes = [sum(1 for n in sorted_lengths if n > t) for t in range(sorted_lengths[0])]
    data = cat([input[t, :size] for t, size in enumerate(batch_sizes)])
    return _packed(data, batch_sizes, sorted_indices)


def _packed(data, batch_sizes, sorted_indices):
    unsorted = None
    if sorted_indices is not None:
        unsorted = sorted_indices.argsort()
    return PackedSequence(data, tensor(batch_sizes), sorted_indices, unsorted)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Same as torch.nn.utils.rnn.pad_packed_sequence: (padded batch, lengths), in the batch
    order the sequence was packed from."""
    data, batch_sizes = sequence.data, sequence.batch_sizes.tolist()
    steps, batch = len(batch_sizes), batch_sizes[0]
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in "
                f"input, but got total_length={total_length} and max sequence length being "
                f"{steps}"
            )
        steps = total_length
    rows, start = [], 0
    filler = full((batch, *data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    for t in range(steps):
        size = batch_sizes[t] if t < len(batch_sizes) else 0
        step = data[start : start + size]
        start += size
        rows.append(step if size == batch else cat([step, filler[size:]]) if size else filler)
    padded = stack(rows)  # T x B x *
    lengths = [sum(1 for size in batch_sizes if size > b) for b in range(batch)]
    lengths = tensor(lengths)
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths = lengths[sequence.unsorted_indices]
    return (padded.transpose(0, 1) if batch_first else padded), lengths


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Same as torch.nn.utils.rnn.pad_sequence: stack tensors of lengths L_i x * into
    L_max x B x * (B x L_max x * with batch_first), padding with `padding_value`."""
    if padding_side not in ("left", "right"):
        raise ValueError(
            f"Expected padding_side to be one of left or right, but got {padding_side}."
        )
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    longest = max(s.shape[0] for s in sequences)
    rows = []
    for s in sequences:
        missing = longest - s.shape[0]
        if missing:
            pad = full((missing, *s.shape[1:]), padding_value, dtype=s.dtype, device=s.device)
            s = cat([s, pad]) if padding_side == "right" else cat([pad, s])
        rows.append(s)
    return stack(rows, 0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """Same as torch.nn.utils.rnn.unpad_sequence: the list of unpadded sequences."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    lengths = _lengths_list(lengths, "unpad_sequence")
    return [padded_sequences[i, :n] for i, n in enumerate(lengths)]


def pack_sequence(sequences, enforce_sorted=True):
    """Same as torch.nn.utils.rnn.pack_sequence: pack a list of variable-length tensors."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """Same as torch.nn.utils.rnn.unpack_sequence: the list of sequences a PackedSequence holds."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


def invert_permutation(permutation):
    """The permutation that undoes `permutation` (None stays None)."""
    if permutation is None:
        return None
    return as_tensor(permutation).argsort()


__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpack_sequence",
    "unpad_sequence",
]
