"""The speed settings (utils/performance.py) change how fast, never what is computed."""
import math
import os
import subprocess
import sys
from pathlib import Path

import torch

from disvae.models.losses import get_loss_f
from disvae.models.vae import init_specific_model
from utils.performance import speed_up_model

REPO = Path(__file__).resolve().parents[1]
DEFAULT_GLIBC_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}
FAULTS_PER_STEP = """
import resource, sys
sys.path.insert(0, {repo!r})
from utils.performance import tune_allocator
tuned = tune_allocator()
import torch
from disvae.models.losses import get_loss_f
from disvae.models.vae import init_specific_model
torch.manual_seed(0)
model = init_specific_model("Burgess", (1, 64, 64), 10)
optimizer = torch.optim.Adam(model.parameters())
loss_f = get_loss_f("VAE", 10, n_data=1000)
data = (torch.rand(64, 1, 64, 64) < 0.1).float()
for step in range(1, 9):
    if step == 4:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    loss_f.train_step(model, data, optimizer, step)
print(tuned, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


def faults_per_step(env):
    """(whether tune_allocator applied, page faults per training step at batch 64 after
    three warm-up steps), in a fresh process."""
    output = subprocess.run([sys.executable, "-c", FAULTS_PER_STEP.format(repo=str(REPO))],
                            env=dict(env, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                            check=True).stdout
    tuned, faults = output.split()
    return tuned == "True", float(faults)


def test_tuned_allocator_trains_without_page_faults():
    tuned, faults = faults_per_step(os.environ.copy())
    assert tuned and faults < 50


def test_allocator_settings_of_the_user_are_kept():
    tuned, faults = faults_per_step(dict(os.environ, **DEFAULT_GLIBC_MALLOC))
    assert not tuned and faults > 1000  # the step's large buffers are mapped anew every time


def seeded_model():
    torch.manual_seed(0)
    return init_specific_model("Burgess", (1, 64, 64), 10)


def binary_batch(n_images=16):
    generator = torch.Generator().manual_seed(1)
    return (torch.rand(n_images, 1, 64, 64, generator=generator) < 0.1).float()


def terms_of(model, loss_name="btcvae"):
    torch.manual_seed(2)
    loss_f = get_loss_f(loss_name, 10, n_data=1000)
    return loss_f.terms(model.train(), binary_batch(), 10)[1]


def test_channels_last_model_gives_the_same_terms_within_rounding():
    plain, fast = seeded_model(), speed_up_model(seeded_model(), channels_last=True)
    assert fast.encoder.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert list(fast.state_dict()) == list(plain.state_dict())
    torch.testing.assert_close(terms_of(fast), terms_of(plain), rtol=1e-5, atol=1e-4)


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


def read_log_values(path):
    rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
    return [(epoch, key) for epoch, key, _ in rows], [float(value) for *_, value in rows]


def test_seeded_run_logs_the_same_losses_with_and_without_speed_settings(dsprites_data_dir,
                                                                         tmp_path):
    """Channels-last and the tuned allocator (main.py's defaults) against neither: the
    logged per-epoch means agree within 1e-4 relative."""
    common = ["-d", "dsprites", "-l", "btcvae", "-b", "32", "-e", "2", "--max-steps", "70",
              "--no-test", "--no-progress-bar", "--data-dir", str(dsprites_data_dir),
              "--results-dir", str(tmp_path)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for name, extra, extra_env in (("fast", [], {}),
                                   ("plain", ["--no-channels-last"], DEFAULT_GLIBC_MALLOC)):
        subprocess.run([sys.executable, str(REPO / "main.py"), name, *common, *extra],
                       env=dict(env, **extra_env), check=True, capture_output=True)
    keys_fast, fast = read_log_values(tmp_path / "fast" / "train_losses.log")
    keys_plain, plain = read_log_values(tmp_path / "plain" / "train_losses.log")
    assert keys_fast == keys_plain and len(fast) > 20
    for a, b in zip(fast, plain):
        assert math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6)
