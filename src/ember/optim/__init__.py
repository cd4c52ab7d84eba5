"""ember.optim: optimizers and learning-rate schedulers, with PyTorch's names."""
