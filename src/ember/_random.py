"""Random number generators: ember.Generator and the global one behind manual_seed."""

from __future__ import annotations

import contextlib
import threading

import numpy


class Generator:
    """Same as torch.Generator: a seeded source of random numbers (NumPy's PCG64 inside)."""

    def __init__(self, device="cpu"):
        self.device = device
        self._seed = 67280421310721
        self._rng = numpy.random.default_rng(self._seed)

    def manual_seed(self, seed):
        """Reset the generator to a seed; returns the generator."""
        self._seed = int(seed)
        self._rng = numpy.random.default_rng(self._seed)
        return self

    def seed(self):
        """Seed from fresh entropy; returns the seed."""
        self._seed = int(numpy.random.SeedSequence().entropy % (2**63))
        self._rng = numpy.random.default_rng(self._seed)
        return self._seed

    def initial_seed(self):
        """The seed last set."""
        return self._seed

    def get_state(self):
        """The generator's state (a dict), for set_state."""
        return self._rng.bit_generator.state

    def set_state(self, state):
        """Restore a state from get_state."""
        self._rng.bit_generator.state = state
        return self


default_generator = Generator()


def manual_seed(seed):
    """Same as torch.manual_seed: seed the global generator; returns it."""
    return default_generator.manual_seed(seed)


def seed():
    """Same as torch.seed."""
    return default_generator.seed()


def initial_seed():
    """Same as torch.initial_seed."""
    return default_generator.initial_seed()


def get_rng_state():
    """Same as torch.get_rng_state (a dict here, not a byte tensor)."""
    return default_generator.get_state()


def set_rng_state(state):
    """Same as torch.set_rng_state."""
    default_generator.set_state(state)


def rng(generator=None):
    """The NumPy Generator behind `generator` (or the global one): where every random op in
    ember draws from. While `intercept_draws(hook)` is active, `hook(generator)` instead."""
    generator = generator or default_generator
    hook = _draw_hook
    if hook is not None:
        return hook(generator)
    return generator._rng


_draw_hook = None  # what intercept_draws installed
_HOOK_LOCK = threading.Lock()


@contextlib.contextmanager
def intercept_draws(hook):
    """While the block runs, `rng(generator)` returns `hook(generator)` instead of the NumPy
    Generator inside `generator` (an ember Generator, never None).

    For tracing tools that must see random draws (ember.compile records each draw as a step
    it draws again on every replay). What `hook` returns must act as a NumPy Generator for the
    methods ember calls (random, normal, uniform, integers, permutation, ...); it should draw
    from `generator._rng` when it draws, since manual_seed replaces that object. The hook
    applies to every thread: it must give draws it does not track (other threads') the real
    generator's behaviour, and keep no per-call state on shared objects. One hook at a time: a
    second raises RuntimeError. Cost without one: one global read per `rng()` call.
    """
    global _draw_hook
    with _HOOK_LOCK:
        if _draw_hook is not None:
            raise RuntimeError("a random-draw hook is already installed (one at a time)")
        _draw_hook = hook
    try:
        yield
    finally:
        with _HOOK_LOCK:
            _draw_hook = None
