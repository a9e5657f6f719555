"""The picture and chart helpers: grid layout, traversal ranges, picture sizes, the training
GIF hook, log readers and charts (untrained small models; main_viz end to end elsewhere)."""
import json

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from disvae.models.vae import init_specific_model
from utils import viz_helpers
from utils.visualize import (GIF_TRAVERSAL_STEPS, LABEL_BAND_PX, TrainingGif, Visualizer,
                             image_grid, save_gif, traversal_codes, traversal_values)

LATENT_DIM = 4


def cell_size(image_px, upsample=1, padding=2):
    return image_px * upsample + padding


def grid_shape(n_rows, n_cols, image_px, upsample=1):
    return (n_rows * cell_size(image_px, upsample) + 2, n_cols * cell_size(image_px, upsample) + 2)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return init_specific_model("Burgess", (1, 32, 32), LATENT_DIM).eval()


@pytest.fixture
def images():
    return torch.rand(12, 1, 32, 32, generator=torch.Generator().manual_seed(1))


# ------------------------------------------------------------------------------------ grid

@pytest.mark.parametrize("background", [0, 1])
def test_image_grid_matches_torchvision_layout_with_opposite_pad_colour(images, background):
    grid = image_grid(images[:10], 4, background)
    expected = torchvision.utils.make_grid(images[:10], nrow=4, padding=2,
                                           pad_value=1 - background)
    expected = (expected * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(grid, expected)
    assert grid[0, 0].tolist() == [255 * (1 - background)] * 3


def test_image_grid_upsamples_each_image_and_replicates_gray_to_rgb(images):
    grid = image_grid(images[:6], 3, 0, upsample=3)
    assert grid.shape == grid_shape(2, 3, 32, 3) + (3,)
    assert (grid[..., 0] == grid[..., 1]).all() and (grid[..., 1] == grid[..., 2]).all()
    first = grid[2:2 + 96, 2:2 + 96, 0].astype(float) / 255
    expected = images[0, 0].repeat_interleave(3, 0).repeat_interleave(3, 1).numpy()
    np.testing.assert_allclose(first, expected, atol=1 / 255)


def test_image_grid_pads_a_single_image_too():
    grid = image_grid(torch.zeros(1, 3, 8, 8), 1, 0)
    assert grid.shape == (12, 12, 3) and grid[0, 0].tolist() == [255, 255, 255]


# ------------------------------------------------------------------------------ traversals

def test_absolute_traversal_spans_minus_t_to_t_whatever_the_posterior():
    values = traversal_values(5, 2.0, mean=3.0, std=0.1)
    np.testing.assert_allclose(values, [-2, -1, 0, 1, 2])


def test_quantile_traversal_of_the_prior_spans_plus_minus_1_96():
    values = traversal_values(10, 0.475)
    np.testing.assert_allclose([values[0], values[-1]], [-1.959964, 1.959964], atol=1e-5)


def test_quantile_traversal_of_a_posterior_is_centred_on_its_mean():
    values = traversal_values(11, 0.475, mean=3.0, std=0.5)
    np.testing.assert_allclose([values[0], values[5], values[-1]],
                               [3 - 0.979982, 3.0, 3 + 0.979982], atol=1e-5)


def test_traversal_codes_sweep_only_their_own_latent():
    mean, std = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([1.0, 0.5, 0.2])
    codes = traversal_codes([2, 0], 4, 0.475, mean, std)
    assert codes.shape == (2, 4, 3)
    np.testing.assert_allclose(codes[0, :, :2], mean[:2].expand(4, 2))
    np.testing.assert_allclose(codes[1, :, 1:], mean[1:].expand(4, 2))
    np.testing.assert_allclose(codes[0, :, 2], traversal_values(4, 0.475, 2.0, 0.2))
    assert codes[1, 0, 0] < mean[0] < codes[1, -1, 0]


# ----------------------------------------------------------------------------- Visualizer

def make_visualizer(model, tmp_path, upsample=1, kl=(0.1, 3.0, 0.5, 2.0)):
    return Visualizer(model, background_color=0, save_dir=str(tmp_path), latent_kl=kl,
                      upsample_factor=upsample)


def read(path):
    return np.asarray(Image.open(path).convert("RGB"))


def test_pictures_have_the_size_of_their_rows_columns_and_upsampling(model, images, tmp_path):
    viz = make_visualizer(model, tmp_path, upsample=2)
    expected = grid_shape(4, 3, 32, 2)
    assert read(viz.generate_samples(4, 3, torch.Generator().manual_seed(0))).shape[:2] == \
        expected
    assert read(viz.data_samples(images, 4, 3)).shape[:2] == expected
    assert read(viz.reconstruct(images, 4, 3)).shape[:2] == expected
    assert read(viz.traversals(4, 3)).shape[:2] == expected
    assert read(viz.traversals(4, 3, images[0])).shape[:2] == expected
    assert (tmp_path / "prior_traversals.png").exists()
    assert (tmp_path / "posterior_traversals.png").exists()


def test_reconstruct_shows_originals_above_their_reconstructions(model, images, tmp_path):
    viz = make_visualizer(model, tmp_path)
    picture = read(viz.reconstruct(images, 2, 3))
    originals = image_grid(images[:3], 3, 0)
    np.testing.assert_array_equal(picture[:36], originals[:36])
    assert not np.array_equal(picture[36:70], originals[2:36])
    with pytest.raises(ValueError, match="even number of rows"):
        viz.reconstruct(images, 3, 3)


def test_traversal_rows_follow_the_kl_ranking(model, tmp_path):
    viz = make_visualizer(model, tmp_path)
    picture = read(viz.traversals(2, 5))
    latents = viz.latent_order[:2].tolist()
    assert latents == [1, 3]
    zeros = torch.zeros(LATENT_DIM)
    codes = traversal_codes(latents, 5, 2.0, zeros, torch.ones(LATENT_DIM))
    with torch.no_grad():
        expected = model.decoder(codes.view(-1, LATENT_DIM))
    np.testing.assert_array_equal(picture, image_grid(expected, 5, 0))


def test_reconstruct_traverse_stacks_two_grids_and_labels_rows(model, images, tmp_path):
    viz = make_visualizer(model, tmp_path)
    plain = read(viz.reconstruct_traverse(images, 3, 4, is_posterior=True))
    height = grid_shape(2, 4, 32)[0] + grid_shape(3, 4, 32)[0]
    assert plain.shape[:2] == (height, grid_shape(1, 4, 32)[1])
    labelled = read(viz.reconstruct_traverse(images, 3, 4, is_posterior=True,
                                             is_show_loss=True))
    assert labelled.shape[:2] == (height, plain.shape[1] + LABEL_BAND_PX)
    band = labelled[:, plain.shape[1]:]
    assert (band < 128).any() and (band == 255).mean() > 0.8
    np.testing.assert_array_equal(labelled[:, :plain.shape[1]], plain)


def test_gif_traversals_frames_are_latents_by_images_looping_at_12_fps(model, images,
                                                                       tmp_path):
    viz = make_visualizer(model, tmp_path)
    path = viz.gif_traversals(images, 3, 2)
    frames = iio.imread(path, index=None)
    assert frames.shape[:3] == (GIF_TRAVERSAL_STEPS,) + grid_shape(3, 2, 32)
    meta = iio.immeta(path, index=0)
    assert meta["loop"] == 0 and 70 <= meta["duration"] <= 90
    assert not np.array_equal(frames[0], frames[-1])


def test_too_many_traversal_rows_is_refused(model, tmp_path):
    with pytest.raises(ValueError, match="4 latents"):
        make_visualizer(model, tmp_path).traversals(5, 3)


# ----------------------------------------------------------------------- training GIF hook

def test_training_gif_is_valid_after_every_epoch_and_keeps_the_model_mode(model, tmp_path):
    hook = TrainingGif(str(tmp_path), background_color=0)
    model.train()
    for epoch in range(3):
        with torch.no_grad():
            for parameter in model.decoder.parameters():
                parameter.add_(0.05 * torch.randn_like(parameter))
        hook(epoch, model)
        frames = iio.imread(tmp_path / "training.gif", index=None)
        assert len(frames) == epoch + 1
        assert model.training
    bare = iio.imread(tmp_path / "training_gif_frames" / "epoch-00002.png")
    assert bare.shape[:2] == grid_shape(LATENT_DIM, 10, 32)
    np.testing.assert_array_equal(frames[-1][:bare.shape[0], :bare.shape[1]], bare)
    assert all(parameter.grad is None for parameter in model.parameters())
    assert sorted(p.name for p in (tmp_path / "training_gif_frames").iterdir()) == [
        "epoch-00000.png", "epoch-00001.png", "epoch-00002.png"]


def test_training_gif_replaces_the_frame_of_a_repeated_epoch(model, tmp_path):
    hook = TrainingGif(str(tmp_path), background_color=1)
    model.eval()
    hook(0, model)
    hook(1, model)
    hook(1, model)
    assert len(list((tmp_path / "training_gif_frames").iterdir())) == 2
    assert not model.training
    frame = iio.imread(tmp_path / "training_gif_frames" / "epoch-00001.png")
    assert frame[0, 0].tolist() == [0, 0, 0]


# ------------------------------------------------------------------------------ readers

LOG = """Epoch,Loss,Value
0,recon_loss,10.0
0,kl_loss_0,1.0
0,kl_loss_1,2.0
0,loss,13.0
1,recon_loss,8.0
1,kl_loss_0,3.0
1,kl_loss_1,0.5
1,loss,11.5
"""


def test_train_losses_log_reads_back_per_term_per_epoch(tmp_path):
    (tmp_path / "train_losses.log").write_text(LOG + "1,loss,11.0\n2,recon_loss,7.0\n")
    epochs, losses = viz_helpers.read_loss_log(tmp_path / "train_losses.log")
    assert epochs.tolist() == [0, 1, 2]
    assert list(losses) == ["recon_loss", "kl_loss_0", "kl_loss_1", "loss"]
    np.testing.assert_allclose(losses["loss"], [13.0, 11.0, np.nan])
    epoch, kl = viz_helpers.last_epoch_kl(epochs, losses)
    assert epoch == 1 and kl.tolist() == [3.0, 0.5]


def test_malformed_train_losses_log_names_the_line(tmp_path):
    (tmp_path / "train_losses.log").write_text(LOG + "2,loss\n")
    with pytest.raises(viz_helpers.RunLogError, match="line 10"):
        viz_helpers.read_loss_log(tmp_path / "train_losses.log")


def test_log_without_per_latent_kl_gives_no_ranking():
    epochs = np.array([0])
    assert viz_helpers.last_epoch_kl(epochs, {"loss": np.array([1.0])}) is None


def test_kl_per_latent_matches_the_closed_form():
    mean = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    logvar = np.array([[0.0, 0.0, np.log(4.0)], [0.0, 0.0, np.log(4.0)]])
    expected = [0.0, 1.0, 0.5 * (4 - np.log(4.0) - 1)]
    np.testing.assert_allclose(viz_helpers.kl_per_latent(mean, logvar), expected)


def test_mi_matrix_is_found_nested_or_flat():
    matrix = [[0.0, 0.0], [0.4, 0.1], [0.0, 0.9]]
    nested = {"MIG": 0.3, "factor_names": ["color", "shape", "scale"],
              "mig_sampled": {"mi_matrix": matrix, "recipe": {"mi_matrix_rows": ["a", "b", "c"]}}}
    found, names = viz_helpers.mi_matrix_of(nested)
    assert found.tolist() == matrix and names == ["a", "b", "c"]
    found, names = viz_helpers.mi_matrix_of({"mi_matrix": matrix})
    assert found.shape == (3, 2) and names == ["factor 0", "factor 1", "factor 2"]
    assert viz_helpers.mi_matrix_of({"MIG": 0.1, "AAM": 0.2}) is None


def test_mean_per_class_averages_rows_and_marks_missing_classes():
    values = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0]])
    means = viz_helpers.mean_per_class(values, np.array([0, 0, 2]), 3)
    np.testing.assert_allclose(means, [[2.0, 20.0], [np.nan, np.nan], [5.0, 50.0]])


def test_terms_are_grouped_into_panels():
    keys = ["recon_loss", "loss", "mi_loss", "tc_loss", "dw_kl_loss", "kl_loss", "kl_loss_0",
            "kl_loss_1", "discrim_loss"]
    families = viz_helpers.term_families(keys)
    assert list(families.values()) == [["recon_loss"], ["loss"],
                                       ["mi_loss", "tc_loss", "dw_kl_loss", "kl_loss"],
                                       ["kl_loss_0", "kl_loss_1"], ["discrim_loss"]]


# ------------------------------------------------------------------------------- charts

def assert_drawn(path):
    picture = read(path)
    assert picture.std() > 10, f"{path} looks blank"


def test_charts_are_drawn(tmp_path):
    (tmp_path / "train_losses.log").write_text(LOG)
    epochs, losses = viz_helpers.read_loss_log(tmp_path / "train_losses.log")
    assert_drawn(viz_helpers.plot_loss_curves(epochs, losses, tmp_path / "curves.png"))
    assert_drawn(viz_helpers.plot_kl_per_latent(np.array([1.0, 0.2]), tmp_path / "kl.png", ""))
    values = np.linspace(0, 1, 5)
    curves = [("posX", values, np.stack([values, -values], axis=1)),
              ("scale", values, np.stack([values ** 2, values], axis=1))]
    assert_drawn(viz_helpers.plot_latent_vs_factor(curves, [1, 0], np.array([0.3, 1.2]),
                                                   tmp_path / "lvf.png", ""))
    metrics = json.loads(json.dumps({"mi_matrix": [[0.1, 0.8], [0.5, 0.0]]}))
    matrix, names = viz_helpers.mi_matrix_of(metrics)
    assert_drawn(viz_helpers.plot_mi_matrix(matrix, names, tmp_path / "mi.png", ""))
    assert not list(tmp_path.glob("*.part*"))


def test_training_gif_labels_rows_columns_and_the_epoch(model, tmp_path, label_calls):
    hook = TrainingGif(str(tmp_path), background_color=0)
    hook(0, model)
    hook(1, model)
    assert [call[0] for call in label_calls] == [[f"z{d}" for d in range(LATENT_DIM)]] * 2
    assert label_calls[-1][1] == ["-2", "-1.5", "-1.1", "-0.7", "-0.2", "0.2", "0.7", "1.1",
                                  "1.5", "2"]
    assert [call[2].split(";")[0] for call in label_calls] == ["epoch 0", "epoch 1"]


def test_training_gif_appends_later_frames_as_a_rewrite_would_write_them(model, tmp_path,
                                                                         label_calls):
    """Each frame after a process's first is appended: labelled once, never redrawn, and the
    GIF decodes to the frames (and delays) of one written from all frame files at once. A
    new hook (a resumed run) rewrites the GIF from the files up to its frame."""
    hook = TrainingGif(str(tmp_path), background_color=0)
    for epoch in range(4):
        with torch.no_grad():
            for parameter in model.decoder.parameters():
                parameter.add_(0.05 * torch.randn_like(parameter))
        hook(epoch, model)
    assert [call[2].split(";")[0] for call in label_calls] == [f"epoch {e}" for e in range(4)]
    paths = hook.frame_paths(3)
    save_gif([hook.labelled(iio.imread(path), path) for path in paths], tmp_path / "whole.gif")
    appended = iio.imread(tmp_path / "training.gif", index=None)
    np.testing.assert_array_equal(appended, iio.imread(tmp_path / "whole.gif", index=None))
    with Image.open(tmp_path / "training.gif") as gif, Image.open(tmp_path / "whole.gif") as whole:
        assert gif.info["loop"] == 0 and gif.n_frames == 4
        delays = []
        for index in range(4):
            gif.seek(index)
            whole.seek(index)
            delays.append((gif.info["duration"], whole.info["duration"]))
    assert delays == [(80, 80)] * 4  # 1/12 s, in the hundredths of a second GIF counts

    del label_calls[:]
    TrainingGif(str(tmp_path), background_color=0)(2, model)
    assert len(iio.imread(tmp_path / "training.gif", index=None)) == 3
    assert [call[2].split(";")[0] for call in label_calls] == [f"epoch {e}" for e in range(3)]


def test_a_frame_with_wider_labels_widens_the_training_gif(model, images, tmp_path):
    """A latent's KL of 10,000 nats or more ("z0 KL 20000.00") makes a wider label band: the
    GIF is rewritten at the wider size, the narrower frames padded with white, training goes
    on."""
    hook = TrainingGif(str(tmp_path), background_color=0, kl_images=images)
    hook(0, model)
    narrow = iio.imread(tmp_path / "training.gif", index=None)
    with torch.no_grad():
        model.encoder.mu_logvar_gen.bias[0] = 200.0  # z0's mean near 200: KL near 20,000 nats
    hook(1, model)
    hook(2, model)
    frames = iio.imread(tmp_path / "training.gif", index=None)
    assert len(frames) == 3 and frames.shape[2] > narrow.shape[2]
    assert (frames[0][:, narrow.shape[2]:] == 255).all()
    np.testing.assert_array_equal(frames[0][:, :narrow.shape[2]], narrow[0])


def closed_form_kl(model, images):
    """Per-latent KL(N(mu, sigma^2) || N(0, 1)) averaged over images, written out in numpy:
    0.5 (mu^2 + sigma^2 - log sigma^2 - 1) (Kingma & Welling 2014, appendix B)."""
    with torch.no_grad():
        mean, logvar = (part.double().numpy() for part in model.encoder(images))
    return (0.5 * (mean ** 2 + np.exp(logvar) - logvar - 1)).mean(axis=0)


def test_training_gif_rows_name_each_latent_and_its_kl_at_that_frame(model, images, tmp_path,
                                                                    label_calls):
    hook = TrainingGif(str(tmp_path), background_color=0, kl_images=images)
    expected = []
    for epoch in range(2):
        expected.append([f"z{d} KL {kl:.2f}" for d, kl in
                         enumerate(closed_form_kl(model, images))])
        hook(epoch, model)
        with torch.no_grad():  # the encoder moves: the next frame has other KLs
            for parameter in model.encoder.parameters():
                parameter.add_(0.05 * torch.randn_like(parameter))
    assert expected[0] != expected[1]
    assert [call[0] for call in label_calls] == [expected[0], expected[1]]
    # a rewrite (a resumed run's first frame) labels every frame with the KL of its own time,
    # kept in kl.json, and the new frame with the KL of now
    expected.append([f"z{d} KL {kl:.2f}" for d, kl in enumerate(closed_form_kl(model, images))])
    del label_calls[:]
    TrainingGif(str(tmp_path), background_color=0, kl_images=images)(2, model)
    assert [call[0] for call in label_calls] == expected
    stored = json.loads((tmp_path / "training_gif_frames" / "kl.json").read_text())
    assert sorted(stored) == ["epoch-00000.png", "epoch-00001.png", "epoch-00002.png"]
    np.testing.assert_allclose(stored["epoch-00000.png"],
                               [float(label.split()[-1]) for label in expected[0]], atol=0.005)
