"""The optimiser the toolkit trains with: Adam (Kingma & Ba 2015, algorithm 1) in torch's fused
implementation, which updates every parameter tensor in one kernel instead of a dozen
element-wise passes over all of them.

The update is the same; only float rounding differs from the per-tensor implementation
(tests/test_performance.py). It matters most for FactorVAE, whose 4-million-parameter
discriminator took a quarter of a CPU training step with the per-tensor Adam
(bench/RESULTS.md). Where this torch has no fused Adam for the parameters' device (the CPU
before torch 2.4), the per-tensor Adam is used. A resumed run keeps the implementation stored
in its checkpoint (torch's load_state_dict restores it).
"""
import torch


def has_fused_adam(parameters):
    """Whether torch's fused Adam supports these parameters (device type and dtype), by the
    list torch itself checks at the first step."""
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    except ImportError:  # a torch that moved this list: use the per-tensor Adam
        return False
    devices = _get_fused_kernels_supported_devices()
    return all(param.device.type in devices and param.is_floating_point()
               for param in parameters)


def adam(parameters, **options):
    """torch.optim.Adam over `parameters` with `options` (lr, betas, ...), fused where this
    torch supports it for the parameters."""
    parameters = list(parameters)
    return torch.optim.Adam(parameters, fused=has_fused_adam(parameters) or None, **options)
