"""The user's own data (-d folder:PATH, npz:PATH, h5:PATH; docs/own-data.md): pixels after
crop and resize against hand-computed cases, channels, labels, the cache and its rebuild,
ground truth from arrays, every bad input's one-line error, presets, and main.py / main_viz.py
end to end, including the commands of docs/own-data.md run as written."""
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

import main
import main_viz
from disvae.objectives import registered
from training_runs import child_env, run_main, single_thread
from utils import datasets_user
from utils.array_cache import images_path
from utils.config import read_config
from utils.data_folder import DatasetUnavailable
from utils.dataset_registry import data_options, has_test_split, user_data_kind
from utils.datasets import get_dataset

REPO = Path(__file__).resolve().parents[1]


def save(path, array):
    """Write a uint8 array (H, W) or (H, W, 3) as an image file (format from the suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


def constant(height, width, value):
    """An image of one grey level (int) or one colour (3-tuple)."""
    shape = (height, width) if np.isscalar(value) else (height, width, 3)
    return np.broadcast_to(np.asarray(value, dtype=np.uint8), shape)


def random_image(height, width, seed, colour=True):
    shape = (height, width, 3) if colour else (height, width)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def one_line_error(excinfo):
    message = str(excinfo.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# ------------------------------------------------------------------------- names and specs

def test_names_with_a_prefix_and_a_path_are_user_data():
    assert user_data_kind("folder:some/dir") == "folder"
    assert user_data_kind("npz:/abs/a:b.npz") == "npz"
    assert user_data_kind("h5:x.h5") == "h5"
    assert user_data_kind("folder:") is None
    assert user_data_kind("zip:x") is None
    assert user_data_kind("mnist") is None
    assert not has_test_split("folder:x")


def test_data_options_carry_the_preprocessing_and_the_recorded_path():
    specs = {"dataset": "folder:pics", "data_img_size": 32, "data_channels": None,
             "data_crop": "none", "data_source": "/data/pics"}
    assert data_options(specs) == {"img_size": 32, "channels": None, "crop": "none",
                                   "path": "/data/pics"}
    assert data_options({"dataset": "mnist", "data_source": "official"}) == {}


# ------------------------------------------------------------------------ folder pixels

def test_centre_crop_of_a_wide_image_is_its_middle_square_pixel_for_pixel(tmp_path):
    """64 pixels high, 96 wide: the centred square is columns 16 to 79, and resizing 64 to 64
    changes nothing."""
    image = random_image(64, 96, seed=1, colour=False)
    save(tmp_path / "pics" / "wide.png", image)
    data = get_dataset(f"folder:{tmp_path / 'pics'}", img_size=64, crop="center")
    assert data.images.shape == (1, 1, 64, 64)
    np.testing.assert_array_equal(data.images[0, 0].numpy(), image[:, 16:80])


def test_centre_crop_of_a_tall_colour_image_keeps_its_middle_rows(tmp_path):
    image = random_image(96, 64, seed=2)
    save(tmp_path / "pics" / "tall.png", image)
    data = get_dataset(f"folder:{tmp_path / 'pics'}", crop="center")
    assert data.images.shape == (1, 3, 64, 64)
    np.testing.assert_array_equal(data.images[0].numpy().transpose(1, 2, 0), image[16:80])
    assert data.batch(np.array([0])).max().item() == pytest.approx(image[16:80].max() / 255)


def three_bands():
    """128 wide, 64 high: columns 0-31 black, 32-95 grey 200, 96-127 grey 50."""
    image = np.zeros((64, 128), dtype=np.uint8)
    image[:, 32:96], image[:, 96:] = 200, 50
    return image


def test_crop_center_then_resize_keeps_only_the_middle_band(tmp_path):
    save(tmp_path / "pics" / "bands.png", three_bands())
    data = get_dataset(f"folder:{tmp_path / 'pics'}", img_size=32, crop="center")
    assert (data.images.numpy() == 200).all()


def test_crop_none_squashes_the_whole_image(tmp_path):
    """Resized 128 -> 32 across (4 source columns per pixel; the Lanczos window reaches 12
    source columns either side of a pixel's centre at (j + 0.5) * 4), so columns 0-3 see only
    black, 12-19 only the grey 200 and 28-31 only the grey 50; 64 -> 32 down."""
    save(tmp_path / "pics" / "bands.png", three_bands())
    images = get_dataset(f"folder:{tmp_path / 'pics'}", img_size=32, crop="none").images
    assert images.shape == (1, 1, 32, 32)
    columns = images[0, 0].numpy()
    assert (columns[:, :4] == 0).all()
    assert (columns[:, 12:20] == 200).all()
    assert (columns[:, 28:] == 50).all()
    assert (columns == columns[:1]).all()  # every row alike


def test_folder_reads_every_image_recursively_in_relative_path_order(tmp_path):
    """Mixed sizes and formats: PNG of constant grey levels (exact after resizing), a JPEG, a
    subfolder; other files and hidden folders ignored; names sorted by relative path."""
    folder = tmp_path / "pics"
    save(folder / "b.png", constant(40, 70, 20))
    save(folder / "a.png", constant(90, 30, 10))
    save(folder / "sub" / "c.png", constant(64, 64, 30))
    save(folder / "sub" / "d.jpg", constant(50, 50, 120))
    save(folder / ".hidden" / "e.png", constant(8, 8, 250))
    (folder / "notes.txt").write_text("not an image")
    data = get_dataset(f"folder:{folder}")
    assert data.name == f"folder:{folder}"
    assert data.source == str(folder)
    assert data.images.shape == (4, 1, 64, 64)  # all grey: one channel
    levels = data.images.float().mean(dim=(1, 2, 3)).numpy()
    np.testing.assert_allclose(levels[:3], [10, 20, 30])
    assert abs(levels[3] - 120) <= 2  # JPEG
    assert data.scale == pytest.approx(1 / 255) and not data.has_factors


def test_channels_default_to_colour_when_one_image_has_colour(tmp_path):
    folder = tmp_path / "pics"
    save(folder / "grey.png", constant(32, 32, 90))
    save(folder / "colour.png", constant(32, 32, (30, 120, 210)))
    assert get_dataset(f"folder:{folder}").images.shape == (2, 3, 64, 64)
    grey = get_dataset(f"folder:{folder}", channels=1).images
    # ITU-R 601-2 luma: (30 * 299 + 120 * 587 + 210 * 114) / 1000 = 103.35
    assert grey.shape == (2, 1, 64, 64)
    assert (grey[0] == 103).all() and (grey[1] == 90).all()
    colour = get_dataset(f"folder:{folder}", channels=3).images
    assert (colour[1] == 90).all()  # grey repeated over the three channels


def test_labels_csv_gives_each_image_its_label(tmp_path):
    folder = tmp_path / "pics"
    for name in ("x.png", "sub/y.png", "z.png"):
        save(folder / name, constant(16, 16, 5))
    (folder / "labels.csv").write_text("file,label\nz.png,2\nx.png,0\nsub/y.png,7\n")
    data = get_dataset(f"folder:{folder}")
    np.testing.assert_array_equal(data.labels, [7, 0, 2])  # order: sub/y, x, z
    (folder / "labels.csv").write_text("x.png,cat\nsub/y.png,dog\n")
    with pytest.raises(DatasetUnavailable, match="has no label for z.png") as excinfo:
        get_dataset(f"folder:{folder}")
    one_line_error(excinfo)
    (folder / "labels.csv").write_text("x.png,cat\nsub/y.png,dog\nz.png,cat\n")
    assert get_dataset(f"folder:{folder}").labels.tolist() == ["dog", "cat", "cat"]


# ------------------------------------------------------------------------------- cache

def test_cache_is_reused_and_rebuilt_when_a_file_is_added(tmp_path, monkeypatch):
    folder = tmp_path / "pics"
    save(folder / "a.png", constant(20, 20, 10))
    builds = []
    original = datasets_user.preprocess_folder
    monkeypatch.setattr(datasets_user, "preprocess_folder",
                        lambda *args: builds.append(args[2]) or original(*args))
    name = f"folder:{folder}"
    assert len(get_dataset(name)) == 1
    cache = folder / ".disvae-cache" / "images_64px_autoch_center.npz"
    assert cache.exists() and len(builds) == 1
    assert len(get_dataset(name)) == 1 and len(builds) == 1  # reused
    save(folder / "b.png", constant(20, 20, 40))
    data = get_dataset(name)
    assert len(builds) == 2 and builds[-1] == ["a.png", "b.png"]
    np.testing.assert_array_equal(data.images[:, 0, 0, 0].numpy(), [10, 40])
    assert np.load(images_path(cache), mmap_mode="r").shape == (2, 1, 64, 64)
    get_dataset(name, img_size=32)  # other options: another cache file, the first one kept
    assert len(builds) == 3 and (folder / ".disvae-cache" / "images_32px_autoch_center.npz"
                                 ).exists() and cache.exists()
    os.utime(folder / "a.png", ns=(1, 1))  # an edited file: another modification time
    get_dataset(name)
    assert len(builds) == 4
    assert not list(folder.glob(".disvae-cache/*.part")) and not list(folder.glob("**/*.lock"))


def test_cache_goes_under_the_data_dir_when_one_is_given(tmp_path):
    folder = tmp_path / "pics"
    save(folder / "a.png", constant(20, 20, 10))
    get_dataset(f"folder:{folder}", root=str(tmp_path / "data"))
    assert not (folder / ".disvae-cache").exists()
    [cache] = (tmp_path / "data" / "user").glob("pics-*/images_64px_autoch_center.npz")
    assert cache.is_file()


# ------------------------------------------------------------------------------ arrays

def factor_grid():
    """48 images 32x32 of a bright block: 4 positions x 3 brightness levels x 4 heights; the
    ground truth (position, brightness), floats in [0, 1]."""
    images, classes = [], []
    for x in range(4):
        for level in range(3):
            for y in range(4):
                image = np.zeros((32, 32), dtype=np.float32)
                image[8 + y:16 + y, 4 + 6 * x:12 + 6 * x] = (level + 1) / 3
                images.append(image)
                classes.append((x, level))
    return np.array(images), np.array(classes)


def test_npz_float_images_become_rounded_uint8_with_factors(tmp_path):
    images, classes = factor_grid()
    np.savez(tmp_path / "f.npz", images=images, factor_classes=classes,
             factor_names=np.array(["position", "brightness"]))
    data = get_dataset(f"npz:{tmp_path / 'f.npz'}")
    assert data.images.shape == (48, 1, 32, 32)  # already square and 32: kept at 32
    np.testing.assert_array_equal(data.images[:, 0].numpy(), np.rint(images * 255))
    assert data.scale == pytest.approx(1 / 255)
    assert data.factor_names == ("position", "brightness")
    assert data.factor_sizes == (4, 3)  # largest class + 1
    np.testing.assert_array_equal(data.factor_classes, classes)
    np.testing.assert_array_equal(data.factor_values, classes.astype(float))


def test_npz_without_factors_channels_last_and_binary(tmp_path):
    rgb = random_image(64, 64, seed=3)[np.newaxis].repeat(2, axis=0)  # (2, 64, 64, 3)
    np.savez(tmp_path / "rgb.npz", images=rgb)
    data = get_dataset(f"npz:{tmp_path / 'rgb.npz'}")
    assert not data.has_factors
    np.testing.assert_array_equal(data.images.numpy(), rgb.transpose(0, 3, 1, 2))
    binary = (random_image(64, 64, seed=4, colour=False) > 127).astype(np.uint8)[np.newaxis]
    np.savez(tmp_path / "bin.npz", images=binary[:, np.newaxis])  # (1, 1, 64, 64)
    data = get_dataset(f"npz:{tmp_path / 'bin.npz'}")
    assert data.scale == 1.0  # 0/1 images as dSprites: 1 is white
    np.testing.assert_array_equal(data.images[0, 0].numpy(), binary[0])


def test_npz_of_other_sizes_is_cropped_and_resized_like_a_folder(tmp_path):
    image = random_image(64, 96, seed=5, colour=False)
    np.savez(tmp_path / "wide.npz", images=image[np.newaxis])
    data = get_dataset(f"npz:{tmp_path / 'wide.npz'}")
    np.testing.assert_array_equal(data.images[0, 0].numpy(), image[:, 16:80])
    save(tmp_path / "pics" / "wide.png", image)
    folder = get_dataset(f"folder:{tmp_path / 'pics'}", img_size=32, crop="none")
    arrays = get_dataset(f"npz:{tmp_path / 'wide.npz'}", img_size=32, crop="none")
    np.testing.assert_array_equal(arrays.images.numpy(), folder.images.numpy())


def test_h5_with_factors_names_sizes_and_values(tmp_path):
    images, classes = factor_grid()
    with h5py.File(tmp_path / "f.h5", "w") as archive:
        archive["images"] = (images * 255).round().astype(np.uint8)[:, np.newaxis]
        archive["factor_classes"] = classes
        archive["factor_names"] = np.array([b"position", b"brightness"])
        archive["factor_sizes"] = np.array([5, 3])
        archive["factor_values"] = classes * 0.5
    data = get_dataset(f"h5:{tmp_path / 'f.h5'}", img_size=64)
    assert data.images.shape == (48, 1, 64, 64)
    assert data.factor_names == ("position", "brightness")
    assert data.factor_sizes == (5, 3)
    np.testing.assert_array_equal(data.factor_values, classes * 0.5)
    assert data.source == str(tmp_path / "f.h5")


# ---------------------------------------------------------------------------- bad input

def test_empty_folder_is_one_line_naming_the_fix(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("no images")
    with pytest.raises(DatasetUnavailable, match="no image files .* under .*empty: put the "
                                                 "images there") as excinfo:
        get_dataset(f"folder:{tmp_path / 'empty'}")
    one_line_error(excinfo)


def test_unreadable_image_is_one_line_naming_the_file(tmp_path):
    save(tmp_path / "pics" / "good.png", constant(8, 8, 1))
    (tmp_path / "pics" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DatasetUnavailable) as excinfo:
        get_dataset(f"folder:{tmp_path / 'pics'}")
    message = one_line_error(excinfo)
    assert f"cannot read the image {tmp_path / 'pics' / 'broken.png'}" in message
    assert "(not an image format that Pillow can decode): replace or delete that file" in message
    good = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    save(tmp_path / "cut" / "truncated.png", good)
    data = (tmp_path / "cut" / "truncated.png").read_bytes()
    (tmp_path / "cut" / "truncated.png").write_bytes(data[:len(data) // 2])
    with pytest.raises(DatasetUnavailable, match="cannot read the image .*truncated.png "
                                                 r"\(.+\): replace") as excinfo:
        get_dataset(f"folder:{tmp_path / 'cut'}")
    one_line_error(excinfo)
    assert not list((tmp_path / "pics").glob(".disvae-cache/*.npz"))


ARRAY_ERRORS = [
    (dict(images=np.zeros((3, 8, 8, 5), np.uint8)),
     r"images has shape \(3, 8, 8, 5\): expected \(N, H, W\), \(N, H, W, C\) or \(N, C, H, W\)"),
    (dict(images=np.zeros((3, 32, 32), np.int32)),
     "images has dtype int32: expected uint8 .* or float in \\[0, 1\\]"),
    (dict(images=np.full((3, 32, 32), 1.5)),
     r"images holds floats in \[1.5, 1.5\]: expected floats in \[0, 1\]"),
    (dict(images=np.full((3, 32, 32), np.nan)), "images holds NaN values"),
    (dict(images=np.zeros((3, 32, 32)), factor_classes=np.zeros((2, 2), int)),
     "factor_classes has 2 rows but images has 3 images: expected one row per image"),
    (dict(images=np.zeros((3, 32, 32)), factor_classes=np.zeros((3, 2))),
     r"factor_classes has shape \(3, 2\) and dtype float64: expected \(N, K\) integers"),
    (dict(images=np.zeros((3, 32, 32)), factor_classes=np.zeros((3, 2), int),
          factor_names=np.array(["a"])), r"factor_names has shape \(1,\): expected \(2,\)"),
    (dict(images=np.zeros((3, 32, 32)), factor_classes=np.full((3, 1), 4),
          factor_sizes=np.array([4])), r"factor_sizes \[4\] do not exceed the largest classes"),
    (dict(images=np.zeros((3, 32, 32)), factor_classes=np.zeros((3, 2), int),
          factor_values=np.zeros((3, 1))), r"factor_values has shape \(3, 1\)"),
    (dict(images=np.zeros((3, 32, 32)), factor_names=np.array(["a"])),
     "factor_names without factor_classes"),
    (dict(pictures=np.zeros((3, 32, 32))), "has no array 'images' \\(it has pictures\\)"),
]


@pytest.mark.parametrize("arrays, expected", ARRAY_ERRORS)
def test_bad_arrays_are_one_line_naming_the_array(tmp_path, arrays, expected):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetUnavailable, match=expected) as excinfo:
        get_dataset(f"npz:{tmp_path / 'bad.npz'}")
    assert one_line_error(excinfo).startswith(f"npz:{tmp_path / 'bad.npz'}: ")


def test_bad_h5_arrays_are_checked_the_same_way(tmp_path):
    with h5py.File(tmp_path / "bad.h5", "w") as archive:
        archive["images"] = np.zeros((4, 32, 32), np.uint8)
        archive["factor_classes"] = np.zeros((5, 1), np.int64)
    with pytest.raises(DatasetUnavailable, match="factor_classes has 5 rows but images has 4"):
        get_dataset(f"h5:{tmp_path / 'bad.h5'}")
    (tmp_path / "not.h5").write_text("text")
    with pytest.raises(DatasetUnavailable, match="cannot read .*not.h5 as h5"):
        get_dataset(f"h5:{tmp_path / 'not.h5'}")
    with pytest.raises(DatasetUnavailable, match="no file .*missing.npz: check the path"):
        get_dataset(f"npz:{tmp_path / 'missing.npz'}")


# ------------------------------------------------------------------ command line, presets

@pytest.mark.parametrize("loss", list(registered()))
def test_custom_presets_set_the_loss_and_its_weights_for_user_data(loss):
    args = main.parse_arguments(["r", "-x", f"{loss}_custom", "-d", "folder:pics"])
    assert (args.loss, args.dataset) == (loss, "folder:pics")
    ini = read_config()
    section = f"{loss}_custom"
    assert section in ini
    for key in ini[section]:
        assert getattr(args, key) == pytest.approx(float(ini[section][key]))


def test_custom_preset_weights_are_those_of_dsprites():
    custom = main.parse_arguments(["r", "-x", "factor_custom", "-d", "npz:x.npz"])
    dsprites = main.parse_arguments(["r", "-x", "factor_dsprites"])
    assert (custom.factor_G, custom.lr_disc, custom.lr) == (dsprites.factor_G,
                                                          dsprites.lr_disc, dsprites.lr)


@pytest.mark.parametrize("argv, expected", [
    (["-x", "betaH_custom"], "preset 'betaH_custom' is for your own data: pass -d folder:PATH"),
    (["-d", "folder:"], "invalid choice: 'folder:' (choose from celeba"),
    (["-d", "zip:x"], "h5:PATH)"),
    (["-d", "mnist", "--img-size", "32"], "--img-size preprocesses your own data"),
    (["-d", "dsprites", "--crop", "none"], "not -d dsprites: drop --crop"),
    (["-d", "folder:x", "--img-size", "48"], "invalid choice: 48"),
    (["--is-eval-only", "--channels", "3"], "--channels preprocesses your own data for "
                                            "training; --is-eval-only reopens the data as the "
                                            "run recorded it in its specs.json: drop --channels"),
])
def test_bad_data_options_are_one_line(capsys, argv, expected):
    outcome, _ = run_main(capsys, "r", *argv)
    assert expected in outcome and "\n" not in outcome


# ------------------------------------------------------------------------ end to end

def write_factor_npz(path):
    images, classes = factor_grid()
    np.savez(path, images=images, factor_classes=classes,
             factor_names=np.array(["position", "brightness"]))
    return path


def test_train_then_evaluate_metrics_on_npz_with_factors(tmp_path, capsys, monkeypatch,
                                                         small_recipes):
    """Trained from one working directory with a relative path, evaluated from another: the
    run's specs.json reopens the same data (its absolute path) with the same options."""
    work = tmp_path / "work"
    work.mkdir()
    write_factor_npz(work / "f.npz")
    results = tmp_path / "results"
    monkeypatch.chdir(work)
    with single_thread():
        outcome, _ = run_main(capsys, "n", "-x", "btcvae_custom", "-d", "npz:f.npz",
                              "--img-size", "64", "--max-steps", "3", "-b", "16", "--no-test",
                              "--no-progress-bar", "--results-dir", results)
        assert outcome is None
        specs = json.loads((results / "n" / "specs.json").read_text())
        assert specs["dataset"] == "npz:f.npz" and specs["data_source"] == str(work / "f.npz")
        assert specs["data_img_size"] == 64 and specs["img_size"] == [1, 64, 64]
        assert specs["n_train"] == 48 and specs["loss"] == "btcvae"
        monkeypatch.chdir(tmp_path)
        outcome, _ = run_main(capsys, "n", "--is-eval-only", "--is-metrics", "--dci-trees", "2",
                              "--no-progress-bar", "--results-dir", results)
    assert outcome is None
    metrics = json.loads((results / "n" / "metrics.log").read_text())
    assert metrics["factor_names"] == ["position", "brightness"]
    assert metrics["n_images"] == 48 and 0 <= metrics["MIG"] <= 1
    test_losses = json.loads((results / "n" / "test_losses.log").read_text())
    assert np.isfinite(test_losses["loss"])


def test_metrics_without_factors_are_refused_before_training(tmp_path, capsys):
    np.savez(tmp_path / "plain.npz", images=np.zeros((4, 32, 32), np.uint8))
    outcome, _ = run_main(capsys, "p", "-d", f"npz:{tmp_path / 'plain.npz'}", "--is-metrics",
                          "--max-steps", "1", "--results-dir", tmp_path / "results")
    assert outcome == (f"error: dataset 'npz:{tmp_path / 'plain.npz'}' has no ground-truth "
                       f"factors, so no disentanglement metric: drop --is-metrics (checked "
                       f"before training)")
    assert not (tmp_path / "results" / "p" / "model.pt").exists()
    assert not (tmp_path / "results" / "p" / "train_losses.log").exists()


def test_main_viz_traversals_of_a_folder_run(tmp_path, capsys):
    folder = tmp_path / "pics"
    for index in range(6):
        save(folder / f"{index}.png", random_image(40 + 8 * index, 56, seed=index))
    results = tmp_path / "results"
    with single_thread():
        outcome, _ = run_main(capsys, "f", "-d", f"folder:{folder}", "--img-size", "32",
                              "--crop", "none", "-z", "4", "--max-steps", "2", "-b", "3",
                              "--no-test", "--no-progress-bar", "--results-dir", results)
        assert outcome is None
        main_viz.main(["f", "traversals", "data-samples", "--results-dir", str(results),
                       "--no-labels", "-r", "4", "-c", "3", "-s", "0"])
        traversals = np.asarray(Image.open(results / "f" / "prior_traversals.png"))
        samples = np.asarray(Image.open(results / "f" / "data_samples.png"))
        assert traversals.shape[:2] == (4 * 34 + 2, 3 * 34 + 2)  # 32 px + 2 px padding
        # data-samples shows the cached 32 px images themselves (crop none, colour)
        data = get_dataset(f"folder:{folder}", img_size=32, crop="none")
        cells = {samples[2 + 34 * r:34 + 34 * r, 2 + 34 * c:34 + 34 * c].tobytes()
                 for r in range(2) for c in range(3)}
        assert cells == {image.numpy().transpose(1, 2, 0).tobytes() for image in data.images}
        with pytest.raises(SystemExit, match="has no ground-truth factors, which "
                                             "latent-vs-factor needs"):
            main_viz.main(["f", "latent-vs-factor", "--results-dir", str(results)])


# --------------------------------------------------------------- the commands of the docs

def documented_commands():
    """The commands of the fenced sh block of docs/own-data.md (its first one)."""
    text = (REPO / "docs" / "own-data.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S).group(1)
    return [shlex.split(line) for line in block.splitlines() if line.strip()]


def short_presets(path):
    """A copy of hyperparam.ini whose [Custom] trains 2 epochs instead of 100 (main.py reads
    $DISVAE_CONFIG), so that the documented commands run as written in seconds."""
    presets = read_config()
    assert presets["Custom"]["epochs"] == "100"
    presets["Custom"]["epochs"] = "2"
    with open(path, "w") as handle:
        presets.write(handle)
    return path


def disc(height, width, radius):
    """A grey disc on black, centred."""
    y, x = np.mgrid[:height, :width]
    return np.where(np.hypot(y - height / 2, x - width / 2) < radius, 200, 0)


def test_docs_own_data_commands_run_as_written(tmp_path):
    """Five commands or fewer from a folder of images to traversals and, with factors, to
    metrics: run as written (python and the scripts from this checkout, 2 epochs by the
    presets file) on a generated folder photos/ (grey discs of mixed sizes, PNG and JPEG, one
    subfolder) and npz shapes.npz."""
    commands = documented_commands()
    assert 2 <= len(commands) <= 5
    for index in range(8):
        suffix = "png" if index % 2 else "jpg"
        save(tmp_path / "photos" / ("sub" if index > 5 else "") / f"{index}.{suffix}",
             disc(48 + 4 * index, 64, 8 + index))
    write_factor_npz(tmp_path / "shapes.npz")
    env = dict(child_env(), **{main.CONFIG_ENV: str(short_presets(tmp_path / "presets.ini"))})
    for command in commands:
        assert command[0] == "python" and command[1] in ("main.py", "main_viz.py")
        argv = [sys.executable, str(REPO / command[1]), *command[2:]]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, f"{shlex.join(command)}: {done.stderr[-2000:]}"
    assert (tmp_path / "results" / "photos" / "prior_traversals.png").exists()
    assert (tmp_path / "results" / "shapes" / "latent_vs_factor.png").exists()
    assert (tmp_path / "results" / "shapes" / "mi_matrix.png").exists()
    metrics = json.loads((tmp_path / "results" / "shapes" / "metrics.log").read_text())
    assert metrics["factor_names"] == ["position", "brightness"]
    specs = json.loads((tmp_path / "results" / "photos" / "specs.json").read_text())
    assert specs["dataset"] == "folder:photos" and specs["img_size"] == [1, 64, 64]
    assert specs["n_train"] == 8 and specs["epochs"] == 2
