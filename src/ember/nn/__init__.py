"""ember.nn: modules, layers, losses and initialisation, with PyTorch's names."""
