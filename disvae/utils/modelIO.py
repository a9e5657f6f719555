"""Model files: the VAE weights (`model.pt`, `model-<epoch>.pt`) and full training checkpoints.

Weights files hold the VAE's `state_dict` only, in the original toolkit's format. Every file is
written to a temporary name and renamed, so a crash never leaves a half-written file in place
of a good one.
"""
import os

import torch

from disvae.models.vae import init_specific_model

MODEL_FILENAME = "model.pt"


class CheckpointError(RuntimeError):
    """A model or checkpoint file that cannot be used; the message names the fix."""


def atomic_save(obj, path):
    """torch.save to path + '.part', then rename over path."""
    partial = path + ".part"
    try:
        torch.save(obj, partial)
        os.replace(partial, path)
    except OSError as error:
        if os.path.exists(partial):
            os.remove(partial)
        raise CheckpointError(f"could not write {path} ({error.strerror or error}): free disk "
                              f"space or choose another results folder; earlier files are "
                              f"intact") from None
    return path


def save_model(model, directory, filename=MODEL_FILENAME):
    """Save the VAE's weights (moved to the CPU) under directory/filename."""
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    return atomic_save(state, os.path.join(directory, filename))


def read_torch_file(path, device="cpu"):
    """torch.load with weights_only and a one-line error for missing or damaged files."""
    if not os.path.exists(path):
        raise CheckpointError(f"no file {path}: train the run first or check its name")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # torch raises many types for damaged archives
        raise CheckpointError(f"{path} is corrupt or truncated ({type(error).__name__}): "
                              f"delete it and use an earlier checkpoint or retrain") from None


def load_model(directory, img_size, latent_dim, model_type="Burgess", device="cpu",
               filename=MODEL_FILENAME):
    """Rebuild the VAE and load its weights strictly; returned in evaluation mode."""
    model = init_specific_model(model_type, tuple(img_size), latent_dim)
    state = read_torch_file(os.path.join(directory, filename), device)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(f"{filename} in {directory} does not fit a {model_type} model with "
                              f"{latent_dim} latents and images {img_size} "
                              f"({str(error).splitlines()[0]}): check specs.json") from None
    return model.to(device).eval()
