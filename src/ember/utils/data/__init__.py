"""ember.utils.data: datasets, samplers and the DataLoader, with PyTorch's names."""
