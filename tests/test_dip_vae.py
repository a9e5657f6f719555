"""DIP-VAE-I and DIP-VAE-II (Kumar et al. 2018): the covariance penalty against known answers
and a brute-force computation, and both objectives trained from the command line and
summarised."""
import json
import math

import numpy as np
import pytest
import torch

import main
from disvae.models.dip_loss import (DipIILoss, DipILoss, aggregate_posterior_covariance,
                                    covariance_of_means, dip_penalty)
from disvae.models.losses import get_loss_f
from utils import summary


def brute_force_penalty(mean, logvar, lambda_od, lambda_d, aggregate):
    """The penalty with explicit loops over images and latent pairs (numpy, float64)."""
    n, d = mean.shape
    mu_bar = [sum(mean[k, i] for k in range(n)) / n for i in range(d)]
    cov = np.zeros((d, d))
    for i in range(d):
        for j in range(d):
            cov[i, j] = sum((mean[k, i] - mu_bar[i]) * (mean[k, j] - mu_bar[j])
                            for k in range(n)) / n
        if aggregate:
            cov[i, i] += sum(math.exp(logvar[k, i]) for k in range(n)) / n
    off = sum(cov[i, j] ** 2 for i in range(d) for j in range(d) if i != j)
    diag = sum((cov[i, i] - 1) ** 2 for i in range(d))
    return lambda_od * off + lambda_d * diag


def whitened_codes(n, d, seed=0):
    """n codes whose batch covariance (1/n normalisation) is exactly the identity."""
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = x - x.mean(dim=0)
    cholesky = torch.linalg.cholesky(x.T @ x / n)
    return x @ torch.linalg.inv(cholesky).T


def test_penalty_is_zero_for_means_of_identity_covariance():
    mean = whitened_codes(50, 4) + 3.0  # a shift does not change the covariance
    torch.testing.assert_close(covariance_of_means(mean), torch.eye(4, dtype=torch.float64))
    assert dip_penalty(covariance_of_means(mean), 10.0, 100.0).item() == pytest.approx(0, abs=1e-9)


def test_penalty_of_dip_ii_is_zero_when_means_and_variances_add_to_identity():
    mean = whitened_codes(50, 3) * math.sqrt(0.5)  # Cov[mu] = I / 2
    logvar = torch.full((50, 3), math.log(0.5), dtype=torch.float64)  # E[Sigma] = I / 2
    covariance = aggregate_posterior_covariance(mean, logvar)
    torch.testing.assert_close(covariance, torch.eye(3, dtype=torch.float64))
    assert dip_penalty(covariance, 10.0, 10.0).item() == pytest.approx(0, abs=1e-9)
    # DIP-VAE-I looks at the means only: their variances of 1/2 are penalised
    assert dip_penalty(covariance_of_means(mean), 10.0, 10.0).item() == pytest.approx(
        10.0 * 3 * 0.25)


@pytest.mark.parametrize("aggregate", [False, True])
def test_penalty_matches_a_brute_force_computation(aggregate):
    rng = np.random.default_rng(3)
    mean = rng.normal(size=(7, 3)) * [1.0, 2.0, 0.3] + rng.normal(size=3)
    mean[:, 1] += 0.8 * mean[:, 0]  # correlated latents: off-diagonal entries
    logvar = rng.normal(size=(7, 3))
    mean_t, logvar_t = torch.tensor(mean), torch.tensor(logvar)
    covariance = (aggregate_posterior_covariance(mean_t, logvar_t) if aggregate
                  else covariance_of_means(mean_t))
    expected = brute_force_penalty(mean, logvar, 2.0, 5.0, aggregate)
    assert dip_penalty(covariance, 2.0, 5.0).item() == pytest.approx(expected, rel=1e-10)


class FixedPosterior(torch.nn.Module):
    """A stand-in VAE returning given posterior parameters and a constant reconstruction."""

    def __init__(self, mean, logvar):
        super().__init__()
        self.mean, self.logvar = mean, logvar

    def forward(self, x):
        return torch.full_like(x, 0.5), (self.mean, self.logvar), self.mean


@pytest.mark.parametrize("name,cls,aggregate", [("dipI", DipILoss, False),
                                                ("dipII", DipIILoss, True)])
def test_loss_adds_the_penalty_to_reconstruction_and_kl(name, cls, aggregate):
    rng = np.random.default_rng(5)
    mean, logvar = rng.normal(size=(6, 4)), rng.normal(size=(6, 4)) * 0.3
    loss_f = get_loss_f(name, 4, n_data=100, reg_anneal=0,
                        **{f"{name}_od": 3.0, f"{name}_d": 7.0})
    assert type(loss_f) is cls and loss_f.names[-1] == "dip_loss"
    data = torch.rand(6, 1, 4, 4, dtype=torch.float64)
    model = FixedPosterior(torch.tensor(mean), torch.tensor(logvar))
    loss, values = loss_f.terms(model, data, step=None)
    terms = dict(zip(loss_f.names, values.tolist()))
    kl = (0.5 * (-1 - logvar + mean ** 2 + np.exp(logvar))).sum(axis=1).mean()
    penalty = brute_force_penalty(mean, logvar, 3.0, 7.0, aggregate)
    assert terms["dip_loss"] == pytest.approx(penalty, rel=1e-10)
    assert terms["kl_loss"] == pytest.approx(kl, rel=1e-10)
    assert loss.item() == pytest.approx(terms["recon_loss"] + kl + penalty, rel=1e-10)


def test_defaults_follow_the_published_study():
    assert (get_loss_f("dipI", 4, 10).lambda_od, get_loss_f("dipI", 4, 10).lambda_d) == (10, 100)
    assert (get_loss_f("dipII", 4, 10).lambda_od, get_loss_f("dipII", 4, 10).lambda_d) == (10, 10)


@pytest.mark.parametrize("loss", ["dipI", "dipII"])
def test_dip_vae_trains_from_the_command_line(loss, dsprites_data_dir, tmp_path, capsys):
    main.main(["r", "-x", f"{loss}_dsprites", "--max-steps", "6", "-b", "16", "--no-test",
               "--no-progress-bar", "--data-dir", str(dsprites_data_dir),
               "--results-dir", str(tmp_path)])
    specs = json.loads((tmp_path / "r" / "specs.json").read_text())
    assert specs["loss"] == loss and specs["steps"] == 6
    assert specs[f"{loss}_od"] == 10 and specs[f"{loss}_d"] == (100 if loss == "dipI" else 10)
    rows = [line.split(",") for line in
            (tmp_path / "r" / "train_losses.log").read_text().splitlines()[1:]]
    dip = [float(value) for _, term, value in rows if term == "dip_loss"]
    assert dip and all(math.isfinite(value) and value >= 0 for value in dip)
    columns, [row] = summary.summary_table(tmp_path)
    assert {"lambda_od", "lambda_d", "train_dip_loss"} <= set(columns)
    assert (row["lambda_od"], row["lambda_d"]) == (specs[f"{loss}_od"], specs[f"{loss}_d"])
