"""ember.nn: modules, layers, losses and initialisation, with PyTorch's names."""

from ember._unsupported import module_getattr as _module_getattr
from ember.nn import functional, init, modules, parallel, parameter, utils
from ember.nn.modules import *
from ember.nn.modules.module import Module
from ember.nn.parameter import Buffer, Parameter

__getattr__ = _module_getattr("ember.nn")
