"""The Python API: a trained run folder as an object, for notebooks and scripts.

    from disvae import load_run
    run = load_run("results/dsprites_cpu/btcvae_dsprites_s1")

`run.specs` is the typed options of its specs.json (utils.options.Options: `run.specs.loss`,
`run.specs.model.latent_dim`, `run.specs.objective` its hyperparameters), `run.model` the VAE
in evaluation mode, `run.metrics` the record of metrics.log and `run.train_losses` the
per-epoch means of train_losses.log. `encode`, `decode` and `traverse` take and give batches
(N, C, H, W). Like main.py and main_viz.py this is a shell over the numeric core, so it reads
the run folder with the toolkit's own readers (utils/).
"""
import os
from functools import cached_property

import numpy as np
import torch

from disvae.utils.modelIO import load_model
from disvae.utils.run_folder import METRICS_FILE, TRAIN_LOSSES_FILE
from utils import visualize
from utils.config import load_specs
from utils.options import Options
from utils.viz_helpers import read_loss_log, read_metrics


def as_float_images(images):
    """A float32 tensor in [0, 1] of a batch (N, C, H, W): uint8 values are divided by 255,
    floats are taken as they are; torch tensors and numpy arrays alike."""
    images = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    if images.dtype == torch.uint8:
        return images.float() / 255
    return images.float()


class Run:
    """A trained run folder (see the module docstring)."""

    def __init__(self, path, device="cpu"):
        self.path = os.fspath(path)
        self.device = torch.device(device)
        self.specs = Options.from_flat(load_specs(self.path))

    @cached_property
    def model(self):
        """The VAE of model.pt, in evaluation mode (z is the posterior mean)."""
        specs = self.specs
        return load_model(self.path, specs.img_size, specs.model.latent_dim,
                          specs.model.model_type or "Burgess", self.device)

    def _check_shape(self, images):
        expected = tuple(self.specs.img_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"images of shape {tuple(images.shape)}, the model takes "
                             f"(N, {', '.join(map(str, expected))}): reshape them")
        return images

    def encode(self, images):
        """(mean, logvar) (N, D) of the posteriors of images (uint8 or float in [0, 1],
        tensor or array, (N, C, H, W)), as CPU tensors."""
        images = self._check_shape(as_float_images(images))
        with visualize.evaluation(self.model):
            mean, logvar = self.model.encode(images.to(self.device))
        return mean.cpu(), logvar.cpu()

    def decode(self, z):
        """Images (N, C, H, W) in [0, 1] (pixel probabilities) decoded from codes (N, D)."""
        return visualize.decode(self.model, torch.as_tensor(np.asarray(z) if not torch.is_tensor(z)
                                                            else z).float())

    def traverse(self, images, latents, steps=7, max_traversal=2.0):
        """Traversals (N, len(latents), steps, C, H, W) in [0, 1]: for each image, one row per
        latent of `latents`, that latent swept over `steps` values and the others kept at the
        image's posterior mean; the values as main_viz.py's -t --is-posterior: [-t, t] for
        max_traversal t >= 0.5, else the central 2t probability mass of the latent's
        posterior."""
        mean, logvar = self.encode(images)
        std = torch.exp(0.5 * logvar)
        codes = torch.stack([visualize.traversal_codes(list(latents), steps, max_traversal,
                                                       mean[i], std[i])
                             for i in range(len(mean))])
        decoded = self.decode(codes.reshape(-1, mean.shape[1]))
        return decoded.reshape(len(mean), len(latents), steps, *decoded.shape[1:])

    @cached_property
    def metrics(self):
        """The record of metrics.log ({} before the run is scored)."""
        path = os.path.join(self.path, METRICS_FILE)
        return read_metrics(path) if os.path.exists(path) else {}

    @cached_property
    def train_losses(self):
        """{"epoch": epochs, term: mean per epoch} from train_losses.log, numpy arrays ({}
        without the log)."""
        path = os.path.join(self.path, TRAIN_LOSSES_FILE)
        if not os.path.exists(path):
            return {}
        epochs, losses = read_loss_log(path)
        return {"epoch": epochs, **losses}


def load_run(path, device="cpu"):
    """The run folder at path (e.g. "results/dsprites_cpu/btcvae_dsprites_s1"), its model on
    device."""
    return Run(path, device)
