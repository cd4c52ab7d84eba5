"""ember.save and ember.load: checkpoints in the safetensors format, never pickle."""


def save(obj, f):
    """Same as torch.save, in the safetensors format (not yet available)."""
    raise NotImplementedError("ember.save is not implemented yet")


def load(f, map_location=None, weights_only=True):
    """Same as torch.load, for safetensors files (not yet available)."""
    raise NotImplementedError("ember.load is not implemented yet")
