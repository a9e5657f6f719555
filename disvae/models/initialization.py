"""Weight initialisation of the original toolkit.

Every convolution, transposed convolution and linear layer gets Kaiming-uniform weights
(He et al. 2015) computed for a ReLU; biases keep PyTorch's default. The original applies this
to every layer, heads included, and we keep it so that trained runs match in distribution.
"""
from torch import nn

INITIALISED_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def weights_init(module):
    """Kaiming-uniform (ReLU gain) weights for one layer; use with `model.apply`."""
    if isinstance(module, INITIALISED_LAYERS):
        nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
