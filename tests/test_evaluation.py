"""Test losses mean what they say: every image counts once whatever the batch size, batches
are drawn in a seeded random order so the minibatch estimators do not depend on the file order,
and FactorVAE's terms use the discriminator the run trained."""
import json

import pytest
import torch

from disvae.evaluate import compute_test_losses, evaluation_chunks, random_order_test_losses
from disvae.models.losses import get_loss_f
from disvae.utils.modelIO import load_model
from training_runs import (common_options, one_thread, read_weights, run_main,  # noqa: F401
                           small_data_dir)
from utils.datasets import ImageDataset


@pytest.mark.parametrize("n, batch, min_batch, sizes", [
    (1024, 1023, 2, [1024]),
    (10, 3, 2, [3, 3, 4]),
    (10, 3, 1, [3, 3, 3, 1]),
    (9, 3, 4, [3, 6]),
    (5, 10, 2, [5]),
])
def test_evaluation_chunks_count_every_image_once(n, batch, min_batch, sizes):
    order = torch.randperm(n)
    chunks = evaluation_chunks(order, batch, min_batch)
    assert [len(chunk) for chunk in chunks] == sizes
    assert torch.equal(torch.cat(chunks), order)


def test_too_few_images_for_the_estimator_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 2 images"):
        evaluation_chunks(torch.arange(1), 10, 2)


class IdealEncoder(torch.nn.Module):
    """A 'model' whose posterior mean is the two factors written in an image's first two
    pixels (sharp posterior), and whose reconstruction is the image itself."""

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # so that it has a device

    def forward(self, x):
        mean = x.flatten(1)[:, :2] * 4
        logvar = torch.full_like(mean, -6.0)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        return x.clamp(0.01, 0.99), (mean, logvar), z


def two_factor_images(file_order):
    """2,000 images of a grid of 2 x 1,000 factor values, stored in the given order of the
    grid; images sorted by the first factor put one value of it in each batch of 1,000."""
    first = torch.arange(2000) // 1000
    second = torch.arange(2000) % 1000
    images = torch.zeros(2000, 1, 2, 2, dtype=torch.uint8)
    images[:, 0, 0, 0] = (first * 255).to(torch.uint8)
    images[:, 0, 0, 1] = (second * 255 // 999).to(torch.uint8)
    return ImageDataset("grid", images[file_order], scale=1 / 255, background_color=0,
                        source="test")


def test_minibatch_estimates_do_not_depend_on_the_file_order():
    """The beta-TCVAE terms of a fixed encoder over the same images stored in two orders
    agree in a random batch order; in file order the sorted file gives other values."""
    torch.manual_seed(0)
    loss_f = get_loss_f("btcvae", 2, n_data=2000)
    model = IdealEncoder()
    sorted_file = two_factor_images(torch.arange(2000))
    shuffled_file = two_factor_images(torch.randperm(2000, generator=torch.Generator()
                                                     .manual_seed(7)))
    estimates = [random_order_test_losses(model, loss_f, data, 1000, seed=3,
                                          is_progress_bar=False)
                 for data in (sorted_file, shuffled_file)]
    for term in ("mi_loss", "tc_loss", "dw_kl_loss"):
        assert estimates[0][term] == pytest.approx(estimates[1][term], abs=0.05), term
    in_file_order = compute_test_losses(model, loss_f, map(sorted_file.batch,
                                                           torch.arange(2000).split(1000)),
                                        is_progress_bar=False)
    assert abs(in_file_order["mi_loss"] - estimates[0]["mi_loss"]) > 0.5


def test_a_last_batch_of_one_image_counts_and_does_not_crash():
    """1,024 images at batch 1,023: minibatch stratified sampling needs two images a batch."""
    torch.manual_seed(0)
    data = two_factor_images(torch.arange(1024))
    loss_f = get_loss_f("btcvae", 2, n_data=1024)
    losses = random_order_test_losses(IdealEncoder(), loss_f, data, 1023, seed=1,
                                      is_progress_bar=False)
    assert all(torch.isfinite(torch.tensor(value)) for value in losses.values())


def test_factor_test_losses_use_the_trained_discriminator(small_data_dir, tmp_path):
    results = tmp_path / "results"
    assert run_main(None, "r", *common_options(small_data_dir, results, loss="factor"),
                    "--max-steps", 3)[0] is None
    assert run_main(None, "r", "--is-eval-only", "--eval-batchsize", 16, "--results-dir",
                    results, "--data-dir", small_data_dir)[0] is None
    run = results / "r"
    logged = json.loads((run / "test_losses.log").read_text())
    specs = json.loads((run / "specs.json").read_text())
    from utils.datasets import get_dataset
    data = get_dataset("dsprites", root=str(small_data_dir))
    model = load_model(run, specs["img_size"], specs["latent_dim"])

    def tc_with(discriminator_state):
        loss_f = get_loss_f("factor", specs["latent_dim"], n_data=len(data))
        if discriminator_state is not None:
            loss_f.discriminator.load_state_dict(discriminator_state)
        return random_order_test_losses(model, loss_f, data, 16, logged["order_seed"],
                                        is_progress_bar=False)["tc_loss"]
    trained = read_weights(run / "loss_state.pt")["discriminator"]
    assert logged["order_seed"] == specs["seed"]
    assert tc_with(trained) == pytest.approx(logged["tc_loss"], abs=1e-6)
    assert tc_with(None) != pytest.approx(logged["tc_loss"], abs=1e-4)


def test_a_factor_run_without_its_discriminator_leaves_out_the_terms_that_need_it(
        small_data_dir, tmp_path):
    results = tmp_path / "results"
    assert run_main(None, "r", *common_options(small_data_dir, results, loss="factor"),
                    "--max-steps", 3)[0] is None
    for name in ("loss_state.pt", "checkpoint.pt"):  # as in runs of earlier versions
        (results / "r" / name).unlink()
    assert run_main(None, "r", "--is-eval-only", "--results-dir", results, "--data-dir",
                    small_data_dir)[0] is None
    logged = json.loads((results / "r" / "test_losses.log").read_text())
    assert {"recon_loss", "kl_loss"} <= set(logged)
    assert not {"tc_loss", "discrim_loss", "loss"} & set(logged)
