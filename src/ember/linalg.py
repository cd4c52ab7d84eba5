"""ember.linalg: matrix functions with PyTorch's names and gradients."""
