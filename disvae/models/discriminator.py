"""Total-correlation discriminator of FactorVAE (Kim & Mnih 2018, section 3)."""
from torch import nn

from disvae.models.initialization import weights_init


class Discriminator(nn.Module):
    """MLP latent_dim -> 5 x 1000 (LeakyReLU 0.2) -> 2 logits.

    Logit 0 scores "sample of q(z)", logit 1 "sample of prod_d q(z_d)" (a permuted batch);
    logit_0 - logit_1 estimates log q(z) / prod_d q(z_d), the density ratio behind the TC.
    Two logits with a softmax rather than one with a sigmoid, as in the original toolkit.
    """

    def __init__(self, latent_dim=10, hidden_units=1000, n_hidden=5, negative_slope=0.2):
        super().__init__()
        layers, width = [], latent_dim
        for _ in range(n_hidden):
            layers += [nn.Linear(width, hidden_units), nn.LeakyReLU(negative_slope)]
            width = hidden_units
        layers.append(nn.Linear(width, 2))
        self.net = nn.Sequential(*layers)
        self.apply(weights_init)

    def forward(self, z):
        return self.net(z)
