"""The optimiser the toolkit trains with: Adam (Kingma & Ba 2015, algorithm 1) in torch's fused
implementation, which updates every parameter tensor in one kernel instead of a dozen
element-wise passes over all of them.

The update is the same; only float rounding differs from the per-tensor implementation
(below 1e-7 absolute per step, tests/test_performance.py). It matters most for FactorVAE,
whose 4-million-parameter discriminator took a quarter of a CPU training step with the
per-tensor Adam (bench/RESULTS.md). A torch or device without a fused Adam gets the default
implementation.
"""
import torch


def adam(parameters, **options):
    """torch.optim.Adam over `parameters` with `options` (lr, betas, ...), fused where this
    torch supports it for the parameters' device."""
    parameters = list(parameters)
    try:
        return torch.optim.Adam(parameters, fused=True, **options)
    except RuntimeError:  # this torch has no fused Adam for these parameters' device
        return torch.optim.Adam(parameters, **options)
