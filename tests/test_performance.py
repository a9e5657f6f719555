"""The speed settings (utils/performance.py) change how fast, never what is computed."""
import math
import os
import subprocess
import sys
from pathlib import Path

import torch

import main
from disvae.models import losses
from disvae.models.losses import get_loss_f
from disvae.models.vae import init_specific_model
from disvae.utils.optim import adam
from utils.performance import speed_up_model

REPO = Path(__file__).resolve().parents[1]
DEFAULT_GLIBC_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}
FAULTS_PER_STEP = """
import resource, sys
sys.path.insert(0, {repo!r})
from utils.performance import tune_allocator
tuned = tune_allocator()
import torch
from disvae.models import losses
from disvae.models.losses import get_loss_f
from disvae.models.vae import init_specific_model
torch.manual_seed(0)
model = init_specific_model("Burgess", (1, 64, 64), 10)
loss_f = get_loss_f("VAE", 10, n_data=1000)
data = (torch.rand(64, 1, 64, 64) < 0.1).float()
faults = []
for step in range(1, 10):  # plain gradient steps (an optimizer's first use imports torch._dynamo)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    loss_f.terms(model, data, step)[0].backward()
    with torch.no_grad():
        for param in model.parameters():
            param -= 1e-4 * param.grad
            param.grad = None
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(tuned, sorted(faults[3:])[3])  # the median of the 6 steps after 3 warm-up steps
"""


def run_in_parallel(commands):
    """Run (argv, env) commands at once (on one thread each); returns their stdouts."""
    processes = [subprocess.Popen(argv, env=dict(env, OMP_NUM_THREADS="1"), text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for argv, env in commands]
    outputs = [process.communicate() for process in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr
    return [stdout for stdout, _ in outputs]


def test_tuned_allocator_trains_without_page_faults_unless_the_user_set_malloc_options():
    """Page faults per training step at batch 64 (the median of six steps after three
    warm-up steps, so that a burst from the machine, such as the kernel reclaiming memory,
    does not count), in fresh processes: with tune_allocator, and with glibc's options set by
    the user (kept)."""
    probe = [sys.executable, "-c", FAULTS_PER_STEP.format(repo=str(REPO))]
    outputs = run_in_parallel([(probe, os.environ), (probe, {**os.environ,
                                                             **DEFAULT_GLIBC_MALLOC})])
    (tuned, tuned_faults), (kept, kept_faults) = [output.split() for output in outputs]
    assert tuned == "True" and float(tuned_faults) < 50
    assert kept == "False" and float(kept_faults) > 1000  # large buffers mapped anew each step


def seeded_model():
    torch.manual_seed(0)
    return init_specific_model("Burgess", (1, 64, 64), 10)


def binary_batch(n_images=16):
    generator = torch.Generator().manual_seed(1)
    return (torch.rand(n_images, 1, 64, 64, generator=generator) < 0.1).float()


def terms_of(model):
    """The beta-TCVAE's logged terms on a fixed batch with fixed noise."""
    torch.manual_seed(2)
    return get_loss_f("btcvae", 10, n_data=1000).terms(model.train(), binary_batch(), 10)[1]


def test_channels_last_model_gives_the_same_terms_within_rounding():
    plain, fast = seeded_model(), speed_up_model(seeded_model(), channels_last=True)
    assert fast.encoder.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert list(fast.state_dict()) == list(plain.state_dict())
    torch.testing.assert_close(terms_of(fast), terms_of(plain), rtol=1e-5, atol=1e-4)


def test_channels_last_convolutions_give_the_same_gradients_within_rounding():
    """Layer by layer (through the whole model, a ReLU whose input lies within rounding of
    zero may switch and change a gradient by far more, in either layout)."""
    generator = torch.Generator().manual_seed(3)
    for name, layer in seeded_model().named_modules():
        if not isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            continue
        size = {1: 64, 32: 8}[layer.in_channels] if "encoder" in name else 8
        inputs = torch.randn(8, layer.in_channels, size, size, generator=generator)
        upstream = torch.randn(layer(inputs).shape, generator=generator)
        results = []
        for memory_format in (torch.contiguous_format, torch.channels_last):
            layer.to(memory_format=memory_format)
            layer.zero_grad()
            x = inputs.clone(memory_format=memory_format).requires_grad_()
            output = layer(x)
            output.backward(upstream)
            results.append((output, x.grad, layer.weight.grad, layer.bias.grad))
        for plain, fast in zip(*results):
            torch.testing.assert_close(fast, plain, rtol=0, atol=1e-5 * plain.abs().max().item())


def test_in_place_relus_give_identical_losses_and_gradients(monkeypatch):
    """The model's ReLUs overwrite their inputs; with allocating ReLUs (the original's) the
    loss terms and every gradient are bit-identical: no layer needs its output back."""
    def loss_and_gradients():
        model = seeded_model()
        loss_f = get_loss_f("btcvae", 10, n_data=1000)
        torch.manual_seed(2)
        loss, values = loss_f.terms(model.train(), binary_batch(), 10)
        loss.backward()
        return values, [param.grad for param in model.parameters()]
    in_place = loss_and_gradients()
    monkeypatch.setattr(torch, "relu_", torch.relu)
    allocating = loss_and_gradients()
    torch.testing.assert_close(in_place, allocating, rtol=0, atol=0)


def torch_version():
    return tuple(int(part) for part in torch.__version__.split(".")[:2])


def test_fused_adam_takes_adams_first_step():
    """From a zero state Adam's bias-corrected moments are g and g^2 (Kingma & Ba 2015,
    algorithm 1), so the first step is -lr g / (|g| + eps)."""
    param = torch.tensor([1.0, -2.0, 0.5, 3.0], requires_grad=True)
    optimizer = adam([param], lr=0.1, eps=1e-8)
    assert bool(optimizer.defaults["fused"]) == (torch_version() >= (2, 4))  # fused on the CPU
    param.grad = torch.tensor([0.3, -1e-3, 0.0, 2.0])
    optimizer.step()
    expected = torch.tensor([1.0, -2.0, 0.5, 3.0]) - 0.1 * param.grad / (param.grad.abs() + 1e-8)
    torch.testing.assert_close(param.detach(), expected, rtol=0, atol=1e-7)


def test_fused_adam_trains_factorvae_as_the_per_tensor_adam_within_rounding(monkeypatch):
    """Ten FactorVAE steps (the VAE's and the discriminator's optimisers) with the fused Adam
    and with torch's per-tensor Adam: the weights' changes agree on average to 1e-4 of their
    size (3e-5 measured), everywhere to 1e-2 (2e-3 measured: Adam divides by sqrt(v), so the
    rounding of tiny gradients moves their steps most)."""
    def changes(make_adam):
        monkeypatch.setattr(losses, "adam", make_adam)
        model = seeded_model()
        optimizer = make_adam(model.parameters(), lr=5e-4)
        loss_f = get_loss_f("factor", 10, n_data=1000)
        weights = [*model.parameters(), *loss_f.discriminator.parameters()]
        initial = [weight.detach().clone() for weight in weights]
        data = binary_batch(32)
        torch.manual_seed(2)
        for step in range(1, 11):
            loss_f.train_step(model, data, optimizer, step)
        return [weight.detach() - start for weight, start in zip(weights, initial)]
    fused = changes(adam)
    per_tensor = changes(torch.optim.Adam)
    for fast, plain in zip(fused, per_tensor):
        assert plain.abs().max() > 0
        difference = (fast - plain).abs()
        assert difference.mean() <= 1e-4 * plain.abs().mean()
        assert difference.max() <= 1e-2 * plain.abs().max()


def test_mixed_precision_keeps_float32_outputs_and_the_loss_within_1e_2():
    plain = seeded_model()
    mixed = speed_up_model(seeded_model(), channels_last=False, amp=True)
    recon, (mean, logvar), z = mixed(binary_batch())
    assert {recon.dtype, mean.dtype, logvar.dtype, z.dtype} == {torch.float32}
    loss_index = get_loss_f("btcvae", 10, n_data=1000).names.index("loss")
    assert math.isclose(terms_of(mixed)[loss_index], terms_of(plain)[loss_index], rel_tol=1e-2)


def test_compiled_model_keeps_its_checkpoint_keys():
    plain = seeded_model()
    compiled = speed_up_model(seeded_model(), channels_last=False, compile=True)
    assert list(compiled.state_dict()) == list(plain.state_dict())


def main_command(run_dir, steps, data_dir, *extra_options):
    """The command line of a seeded main.py run of `steps` steps into run_dir."""
    return [sys.executable, str(REPO / "main.py"), run_dir.name, "-d", "dsprites", "-l",
            "btcvae", "-b", "32", "--max-steps", str(steps), "--no-test", "--no-progress-bar",
            "--data-dir", str(data_dir), "--results-dir", str(run_dir.parent), *extra_options]


def log_values(text):
    rows = [line.split(",") for line in text.splitlines()[1:]]
    return [(epoch, key) for epoch, key, _ in rows], [float(value) for *_, value in rows]


def test_tuned_allocator_leaves_a_seeded_run_identical(dsprites_data_dir, tmp_path):
    tuned, default = tmp_path / "tuned", tmp_path / "default"
    run_in_parallel([(main_command(tuned, 40, dsprites_data_dir), os.environ),
                     (main_command(default, 40, dsprites_data_dir),
                      {**os.environ, **DEFAULT_GLIBC_MALLOC})])
    log = (tuned / "train_losses.log").read_text()
    assert log == (default / "train_losses.log").read_text() and len(log.splitlines()) > 10


def test_channels_last_changes_a_seeded_run_only_within_rounding(dsprites_data_dir, tmp_path):
    """main.py with channels-last (its default) against --no-channels-last, over one step:
    later steps drift apart, as any change of rounding makes them (bench/RESULTS.md)."""
    logs = []
    for name, extra in (("fast", []), ("plain", ["--no-channels-last"])):
        main.main(main_command(tmp_path / name, 1, dsprites_data_dir, *extra)[2:])
        logs.append(log_values((tmp_path / name / "train_losses.log").read_text()))
    (keys_fast, values_fast), (keys_plain, values_plain) = logs
    assert keys_fast == keys_plain and len(values_fast) > 10
    for a, b in zip(values_fast, values_plain):
        assert math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6)  # abs: terms near 0 nats
