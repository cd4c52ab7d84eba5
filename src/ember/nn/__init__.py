"""ember.nn: modules, layers, losses and initialisation, with PyTorch's names."""

from ember.nn import functional, init, modules, parallel, parameter, utils
from ember.nn.modules import *
from ember.nn.modules.module import Module
from ember.nn.parameter import Buffer, Parameter
