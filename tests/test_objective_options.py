"""Every hyperparameter of an objective, typed on the command line or set by a preset of
hyperparameter.ini, reaches the loss object that trains; each reconstruction distribution
trains and evaluates end to end.

Written through stable surfaces only: main.main (with a spy on the Trainer it builds, to
catch the loss it hands over), main.parse_arguments and utils.runner.build_loss (the way the trainer
and the evaluation get their loss), and the loss object's public attributes.
"""
import json

import numpy as np
import pytest
import torch

import main
from disvae.models.losses import BetaBLoss, BetaHLoss, BtcvaeLoss, FactorKLoss, VAELoss
from disvae.utils.modelIO import load_model
from training_runs import one_thread  # noqa: F401 (autouse: one PyTorch thread per test)
from utils import config, runner
from utils.datasets import get_dataset

N_DATA = 2048  # images of the session's dSprites subset (conftest.dsprites_data_dir)


@pytest.fixture
def train_one_step(dsprites_data_dir, tmp_path, monkeypatch):
    """A function running main.py for one step of the given options on the dSprites subset
    and returning the loss object handed to the Trainer."""
    handed = []
    real_trainer = runner.Trainer

    def spy(model, optimizer, loss_f, *args, **kwargs):
        handed.append(loss_f)
        return real_trainer(model, optimizer, loss_f, *args, **kwargs)

    monkeypatch.setattr(runner, "Trainer", spy)

    def run(*argv):
        main.main(["r", "-d", "dsprites", *argv, "--max-steps", "1", "-b", "8", "--no-test",
                   "--no-progress-bar", "--data-dir", str(dsprites_data_dir),
                   "--results-dir", str(tmp_path)])
        assert len(handed) == 1
        return handed.pop()
    return run


def preset_loss(*argv):
    """The loss main.py builds for these options (presets applied), without training."""
    options = vars(main.parse_arguments(["r", *argv]))
    return runner.build_loss(options, N_DATA, "cpu")


def disc_lr(loss_f):
    return loss_f.optimizer_d.param_groups[0]["lr"]


def test_vae_options_reach_the_loss(train_one_step):
    loss_f = train_one_step("-l", "VAE", "-r", "laplace", "-a", "7")
    assert type(loss_f) is VAELoss
    assert (loss_f.beta, loss_f.rec_dist, loss_f.reg_anneal) == (1.0, "laplace", 7)
    preset = preset_loss("-x", "VAE_dsprites")
    assert type(preset) is VAELoss and preset.reg_anneal == 10000  # [Custom]


def test_beta_h_options_reach_the_loss(train_one_step):
    loss_f = train_one_step("-l", "betaH", "--betaH-B", "3.5", "-r", "gaussian", "-a", "11")
    assert type(loss_f) is BetaHLoss
    assert (loss_f.beta, loss_f.rec_dist, loss_f.reg_anneal) == (3.5, "gaussian", 11)
    assert preset_loss("-x", "betaH_celeba").beta == 10  # [betaH_celeba]
    assert preset_loss("-x", "betaH_dsprites").beta == 4
    assert preset_loss("-x", "betaH_celeba", "--betaH-B", "2").beta == 2  # typed wins


def test_beta_b_options_reach_the_loss(train_one_step):
    loss_f = train_one_step("-l", "betaB", "--betaB-initC", "2", "--betaB-finC", "9",
                            "--betaB-G", "50", "-a", "20", "-r", "laplace")
    assert type(loss_f) is BetaBLoss
    assert (loss_f.C_init, loss_f.C_fin, loss_f.gamma) == (2, 9, 50)
    assert (loss_f.reg_anneal, loss_f.rec_dist) == (20, "laplace")
    assert loss_f.capacity(10) == pytest.approx(5.5)  # halfway from 2 to 9
    preset = preset_loss("-x", "betaB_celeba")
    assert (preset.C_init, preset.C_fin, preset.gamma, preset.reg_anneal) == (0, 50, 100, 100000)
    assert preset_loss("-x", "betaB_celeba", "--betaB-G", "7").gamma == 7


def test_factor_options_reach_the_loss(train_one_step):
    loss_f = train_one_step("-l", "factor", "--factor-G", "2.5", "--lr-disc", "3e-4",
                            "-r", "gaussian", "-a", "5")
    assert type(loss_f) is FactorKLoss
    assert (loss_f.gamma, disc_lr(loss_f)) == (2.5, 3e-4)
    assert (loss_f.rec_dist, loss_f.reg_anneal) == ("gaussian", 5)
    dsprites = preset_loss("-x", "factor_dsprites")
    assert (dsprites.gamma, disc_lr(dsprites)) == (6.4, 1e-4)
    chairs = preset_loss("-x", "factor_chairs")
    assert (chairs.gamma, disc_lr(chairs)) == (3.2, 1e-5)
    assert disc_lr(preset_loss("-x", "factor_chairs", "--lr-disc", "2e-3")) == 2e-3


def test_btcvae_options_reach_the_loss(train_one_step):
    loss_f = train_one_step("-l", "btcvae", "--btcvae-A", "-2", "--btcvae-B", "3",
                            "--btcvae-G", "0.5", "--btcvae-estimator", "mws", "-r", "laplace",
                            "-a", "9")
    assert type(loss_f) is BtcvaeLoss
    assert (loss_f.alpha, loss_f.beta, loss_f.gamma) == (-2, 3, 0.5)
    assert loss_f.is_mss is False and loss_f.n_data == N_DATA
    assert (loss_f.rec_dist, loss_f.reg_anneal) == ("laplace", 9)
    default = preset_loss("-l", "btcvae")
    assert (default.alpha, default.beta, default.gamma, default.is_mss) == (1, 6, 1, True)
    assert preset_loss("-x", "btcvae_dsprites").beta == 6.4  # ${factor_dsprites:factor_G}
    best = preset_loss("-x", "best_dsprites")
    assert (best.alpha, best.beta) == (-5, 10)
    celeba = preset_loss("-x", "best_celeba")
    assert (celeba.alpha, celeba.beta, celeba.rec_dist) == (-10, 20, "laplace")
    assert preset_loss("-x", "best_dsprites", "--btcvae-A", "0").alpha == 0


def hand_reconstruction(data, recon, distribution):
    """-log p(x|z) per image up to a constant, written from the definitions in
    disvae.models.losses.reconstruction_loss's docstring."""
    x, p = data.double(), recon.double()
    per_pixel = {"bernoulli": -(x * torch.log(p) + (1 - x) * torch.log(1 - p)),
                 "gaussian": 255.0 * (p - x) ** 2,
                 "laplace": 3.0 * (p - x).abs()}[distribution]
    return per_pixel.sum().item() / len(x)


@pytest.mark.parametrize("distribution", ["bernoulli", "laplace", "gaussian"])
def test_each_reconstruction_distribution_trains_and_evaluates(distribution, dsprites_data_dir,
                                                               tmp_path):
    """A short run with -r <distribution>, test losses included: specs.json records it, the
    loss rebuilt from specs.json (as the evaluation does) computes that distribution's
    formula, and every logged value is finite."""
    main.main(["r", "-d", "dsprites", "-l", "betaH", "-r", distribution, "--max-steps", "3",
               "-b", "16", "--eval-batchsize", "512", "--no-progress-bar",
               "--data-dir", str(dsprites_data_dir), "--results-dir", str(tmp_path)])
    run = tmp_path / "r"
    specs = config.load_specs(str(run))
    assert specs["rec_dist"] == distribution
    test_losses = json.loads((run / "test_losses.log").read_text())
    assert np.isfinite(list(test_losses.values())).all() and test_losses["recon_loss"] > 0
    lines = (run / "train_losses.log").read_text().splitlines()[1:]
    assert np.isfinite([float(line.split(",")[2]) for line in lines]).all()

    loss_f = runner.build_loss(specs, specs["n_train"], "cpu")
    model = load_model(str(run), specs["img_size"], specs["latent_dim"], specs["model_type"])
    data = get_dataset("dsprites", "train", root=str(dsprites_data_dir)).batch(
        torch.arange(64))
    torch.manual_seed(0)
    logged = dict(zip(loss_f.names, loss_f.eval_terms(model, data).tolist()))
    torch.manual_seed(0)
    recon, _, _ = model(data)
    assert logged["recon_loss"] == pytest.approx(hand_reconstruction(data, recon, distribution),
                                                 rel=1e-5)
