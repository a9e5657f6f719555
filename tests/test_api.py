"""The Python API (`from disvae import load_run`) on a shipped run, the example of docs/api.md run
as written, and the packaging that makes `disvae` importable from any folder."""
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from disvae import load_run

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "results" / "dsprites_cpu" / "btcvae_dsprites_s1"


@pytest.fixture(scope="module")
def run():
    return load_run(SHIPPED)


def square_images(n=3):
    images = np.zeros((n, 1, 64, 64), dtype=np.uint8)
    for i in range(n):
        images[i, :, 10 + 8 * i:30 + 8 * i, 12:32] = 255
    return images


def test_documented_example_runs_as_written():
    page = (REPO / "docs" / "api.md").read_text()
    example = re.search(r"# Python API\n.*?```python\n(.*?)```", page, re.S).group(1)
    result = subprocess.run([sys.executable, "-c", example], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("btcvae ")


def test_specs_are_typed_and_equal_specs_json(run):
    specs = json.loads((SHIPPED / "specs.json").read_text())
    assert run.specs.to_flat() == specs
    assert run.specs.loss == specs["loss"] and run.specs.model.latent_dim == 10
    assert run.specs.objective.btcvae_B == specs["btcvae_B"]


def test_model_is_in_evaluation_mode_and_uint8_float_array_tensor_agree(run):
    assert not run.model.training
    images = square_images()
    mean, logvar = run.encode(images)
    assert mean.shape == logvar.shape == (3, 10)
    for same in (images.astype(np.float32) / 255, torch.from_numpy(images)):
        other_mean, other_logvar = run.encode(same)
        torch.testing.assert_close(other_mean, mean)
        torch.testing.assert_close(other_logvar, logvar)


def test_decoded_images_are_in_the_unit_interval_and_resemble_the_input(run):
    images = square_images()
    recon = run.decode(run.encode(images)[0])
    assert recon.shape == images.shape and 0 <= recon.min() and recon.max() <= 1
    error = (recon - torch.from_numpy(images / 255)).abs().mean(dim=(1, 2, 3))
    blank = torch.from_numpy(images / 255).mean(dim=(1, 2, 3))  # error of an all-black guess
    assert (error < blank).all()


def test_traversal_sweeps_one_latent_per_row_the_others_at_the_posterior_mean(run):
    images = square_images(2)
    grid = run.traverse(images, latents=[0, 3], steps=5, max_traversal=2.0)
    assert grid.shape == (2, 2, 5, 1, 64, 64)
    mean = run.encode(images)[0]
    for row, latent in enumerate([0, 3]):
        for step, value in enumerate([-2.0, -1.0, 0.0, 1.0, 2.0]):
            code = mean.clone()
            code[:, latent] = value
            torch.testing.assert_close(grid[:, row, step], run.decode(code))
    assert not torch.allclose(grid[0, 0, 0], grid[0, 0, -1])


def test_metrics_and_train_losses_are_those_of_the_run_folder(run):
    metrics = json.loads((SHIPPED / "metrics.log").read_text())
    assert run.metrics["MIG"] == metrics["MIG"]
    lines = (SHIPPED / "train_losses.log").read_text().splitlines()[1:]
    last = [line.split(",") for line in lines if line.split(",")[1] == "loss"][-1]
    assert run.train_losses["epoch"][-1] == int(last[0])
    assert run.train_losses["loss"][-1] == float(last[2])


def test_images_of_another_shape_are_refused_with_the_expected_shape(run):
    with pytest.raises(ValueError, match=r"the model takes \(N, 1, 64, 64\)"):
        run.encode(np.zeros((2, 3, 64, 64), dtype=np.uint8))


def test_pyproject_installs_disvae_with_the_versions_of_requirements():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["dynamic"]["dependencies"]["file"] == \
        ["requirements.txt"]
    assert {"disvae*", "utils*"} <= set(project["tool"]["setuptools"]["packages"]["find"]
                                        ["include"])
