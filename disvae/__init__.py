"""disvae: disentangled VAEs. `from disvae import load_run` opens a trained run folder
(disvae/api.py); importing the package itself stays light (no torch)."""


def load_run(path, device="cpu"):
    """The trained run folder at path as a disvae.api.Run: specs, model, encode, decode,
    traverse, metrics, train_losses."""
    from disvae.api import load_run as load
    return load(path, device)
