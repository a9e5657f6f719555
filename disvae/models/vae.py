"""The VAE: encoder, reparameterisation, decoder (Kingma & Welling 2014)."""
import contextlib

import torch
from torch import nn

from disvae.models.decoders import DecoderBurgess
from disvae.models.encoders import EncoderBurgess
from disvae.models.initialization import weights_init

MODELS = {"Burgess": (EncoderBurgess, DecoderBurgess)}


def init_specific_model(model_type, img_size, latent_dim):
    """Build an initialised VAE of a registered architecture (only "Burgess", as the original)."""
    if model_type not in MODELS:
        raise ValueError(f"unknown model type {model_type!r}: choose one of {sorted(MODELS)}")
    if latent_dim < 1:
        raise ValueError(f"latent dimension must be at least 1, got {latent_dim}: pass -z 10")
    encoder, decoder = MODELS[model_type]
    model = VAE(encoder(img_size, latent_dim), decoder(img_size, latent_dim))
    model.model_type = model_type
    return model


class VAE(nn.Module):
    """x -> (reconstruction, (mean, logvar), z).

    In training mode z is a reparameterised sample mean + exp(logvar / 2) * eps; in evaluation
    mode z is the posterior mean, as in the original toolkit.

    Mixed precision: with autocast_dtype set (e.g. torch.bfloat16, see utils/performance.py)
    the encoder and decoder networks run under autocast, while mean, logvar, the noise, z and
    the reconstruction keep the input's dtype (float32), so the losses and their estimators
    never see bfloat16.
    """

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.img_size = encoder.img_size
        self.latent_dim = encoder.latent_dim
        self.model_type = "Burgess"
        self.autocast_dtype = None
        self.apply(weights_init)

    def _networks_precision(self, x):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(x.device.type, dtype=self.autocast_dtype)

    def encode(self, x):
        """Posterior parameters (mean, logvar), in the dtype of x (float32 under autocast)."""
        with self._networks_precision(x):
            mean, logvar = self.encoder(x)
        return mean.to(x.dtype), logvar.to(x.dtype)

    def decode(self, z):
        """Pixel probabilities (or means) of z, in the dtype of z (the decoder's output is)."""
        with self._networks_precision(z):
            return self.decoder(z)

    def reparameterize(self, mean, logvar):
        """A sample of N(mean, exp(logvar)) in training mode, the mean in evaluation mode."""
        if not self.training:
            return mean
        return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)

    def forward(self, x):
        mean, logvar = self.encode(x)
        z = self.reparameterize(mean, logvar)
        return self.decode(z), (mean, logvar), z

    def sample_latent(self, x):
        """z for x only (sample in training mode, mean in evaluation mode)."""
        return self.reparameterize(*self.encode(x))
