"""Random number generators: ember.Generator and the global one behind manual_seed."""

from __future__ import annotations

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
    """The NumPy Generator behind `generator` (or the global one)."""
    return (generator or default_generator)._rng
