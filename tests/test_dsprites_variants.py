"""Colour and noisy dSprites (Locatello et al. 2019): the counter-based draw against a
plain-integer reference, the images' statistics and sprite masks against dSprites, per-image
determinism across calls, batch orders and processes, the ground truth, the presets, and a
short training with plots on dsprites_color."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import main_viz
from training_runs import run_main
from utils import config, dsprites_variants
from utils.datasets import get_dataset
from utils.dsprites_variants import (COLOR_SEED, NOISE_SEED, colours, hash_words, lowbias32,
                                     noise)

REPO = config.CONFIG_FILE.rsplit("/", 1)[0]
MASK = 2 ** 32 - 1


def reference_lowbias32(x):
    """lowbias32 as published (C. Wellons, hash-prospector), on Python integers mod 2^32."""
    x ^= x >> 16
    x = (x * 0x7FEB352D) & MASK
    x ^= x >> 15
    x = (x * 0x846CA68B) & MASK
    return x ^ (x >> 16)


def reference_word(seed, index, counter):
    """h(s, i, c) of the module docstring, on Python integers."""
    key = reference_lowbias32(reference_lowbias32(seed & MASK) ^ index)
    return reference_lowbias32(key ^ counter)


@pytest.fixture(scope="module")
def data(dsprites_data_dir):
    """(dsprites, dsprites_color, dsprites_noisy) on the 2,048-image subset."""
    return tuple(get_dataset(name, root=str(dsprites_data_dir))
                 for name in ("dsprites", "dsprites_color", "dsprites_noisy"))


def test_the_hash_is_lowbias32_on_every_32_bit_word():
    words = [0, 1, 2, 0x7FFF_FFFF, 0x8000_0000, 0xDEAD_BEEF, MASK] + list(
        np.random.default_rng(0).integers(0, 2 ** 32, 200, dtype=np.int64))
    got = lowbias32(torch.tensor(words, dtype=torch.int64)).tolist()
    assert got == [reference_lowbias32(int(word)) for word in words]
    assert reference_lowbias32(1) != 1 and all(0 <= value <= MASK for value in got)


def test_the_words_follow_the_documented_counter_scheme():
    indices = torch.tensor([0, 1, 737_279, 4242])
    words = hash_words(NOISE_SEED, indices, 5)
    assert words.tolist() == [[reference_word(NOISE_SEED, int(i), c) for c in range(5)]
                              for i in indices]


def test_colours_and_noise_are_the_documented_functions_of_the_words():
    indices = torch.tensor([3, 77])
    expected_colours = [[0.5 + 0.5 * (reference_word(COLOR_SEED, i, c) >> 8) / 2 ** 24
                         for c in range(3)] for i in (3, 77)]
    assert torch.equal(colours(indices).double(), torch.tensor(expected_colours).double())
    word = reference_word(NOISE_SEED, 77, 5 * 64 + 9)  # row 5, column 9
    expected = [(((word >> (2 + 10 * c)) & 1023) + 0.5) / 1024 for c in range(3)]
    assert noise(indices, 64, 64)[1, :, 5, 9].tolist() == expected


def test_colour_sprites_take_one_colour_in_range_on_a_black_background(data):
    plain, colour, _ = data
    everything = torch.arange(len(plain))
    masks, images = plain.batch(everything), colour.batch(everything)
    assert colour.img_size == (3, 64, 64) and images.shape == (len(plain), 3, 64, 64)
    sprite = masks.bool().expand_as(images)
    assert torch.equal(images[~sprite], torch.zeros((~sprite).sum()))
    assert torch.equal((images > 0).any(dim=1, keepdim=True), masks.bool())
    per_image = colours(everything)
    assert torch.equal(images, masks * per_image[:, :, None, None])
    assert per_image.min() >= 0.5 and per_image.max() < 1.0
    # uniform on [0.5, 1]: mean 0.75, variance 0.5^2 / 12, over 3 x 2,048 draws
    assert abs(per_image.mean().item() - 0.75) < 0.01
    assert abs(per_image.var().item() - 0.25 / 12) < 0.002


def test_noisy_sprites_are_white_on_uniform_noise(data):
    plain, _, noisy = data
    everything = torch.arange(len(plain))
    masks, images = plain.batch(everything), noisy.batch(everything)
    assert noisy.img_size == (3, 64, 64) and images.shape == (len(plain), 3, 64, 64)
    sprite = masks.bool().expand_as(images)
    assert torch.equal(images[sprite], torch.ones(sprite.sum()))
    assert torch.equal((images == 1).all(dim=1, keepdim=True), masks.bool())
    background = images.permute(1, 0, 2, 3)[~sprite.permute(1, 0, 2, 3)].view(3, -1)
    assert background.min() > 0 and background.max() < 1
    for channel in background.double():  # uniform on [0, 1]: mean 1/2, variance 1/12
        assert abs(channel.mean().item() - 0.5) < 0.002
        assert abs(channel.var().item() - 1 / 12) < 0.001
    assert abs(np.corrcoef(background[:, :200_000].numpy())[np.triu_indices(3, 1)]).max() < 0.01
    row = images[:, 0, 0, :].double()  # the top row is background in every image
    assert abs(np.corrcoef(row[:, :-1].ravel(), row[:, 1:].ravel())[0, 1]) < 0.01


def test_an_image_is_the_same_in_every_call_and_batch_order(data):
    for variant in data[1:]:
        alone = torch.cat([variant.batch(torch.tensor([i])) for i in (5, 900, 7)])
        together = variant.batch(torch.tensor([7, 5, 900]))[[1, 2, 0]]
        assert torch.equal(alone, together)
        assert torch.equal(variant.batch(torch.tensor([5, 900, 7])), alone)
        assert not torch.equal(alone[0], variant.batch(torch.tensor([6]))[0])


IN_A_CHILD = """
import hashlib, sys, torch
from utils.datasets import get_dataset
data = get_dataset(sys.argv[1], root=sys.argv[2])
print(hashlib.md5(data.batch(torch.tensor([1000, 3, 2047])).numpy().tobytes()).hexdigest())
"""


@pytest.mark.parametrize("name", ["dsprites_color", "dsprites_noisy"])
def test_an_image_is_the_same_in_another_process(name, data, dsprites_data_dir):
    import hashlib
    variant = data[1] if name == "dsprites_color" else data[2]
    here = hashlib.md5(variant.batch(torch.tensor([1000, 3, 2047])).numpy().tobytes())
    child = subprocess.run([sys.executable, "-c", IN_A_CHILD, name, str(dsprites_data_dir)],
                           cwd=REPO, capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == here.hexdigest()


def test_the_ground_truth_is_that_of_dsprites(data):
    plain = data[0]
    for variant in data[1:]:
        assert variant.has_factors and variant.factor_names == plain.factor_names
        assert variant.factor_sizes == plain.factor_sizes
        assert np.array_equal(variant.factor_classes, plain.factor_classes)
        assert np.array_equal(variant.factor_values, plain.factor_values)
        assert len(variant) == len(plain) and variant.source == plain.source


def test_every_dsprites_preset_has_its_variants_with_the_same_hyperparameters():
    parser = config.read_config()
    losses = [section.split("_", 1)[0] for section in parser.sections()
              if section.endswith("_dsprites") and not section.startswith(("Common", "best"))]
    assert set(losses) >= {"betaH", "betaB", "factor", "btcvae", "dipI", "dipII"}
    for loss in losses:
        plain = config.get_section(parser, f"{loss}_dsprites")
        for variant in ("dsprites_color", "dsprites_noisy"):
            assert config.get_section(parser, f"{loss}_{variant}") == plain, (loss, variant)
            common = config.get_section(parser, f"Common_{variant}")
            assert common == dict(config.get_section(parser, "Common_dsprites"),
                                  dataset=variant)


def test_dsprites_color_trains_is_scored_and_plotted(dsprites_data_dir, tmp_path, capsys):
    results = tmp_path / "results"
    outcome, _ = run_main(capsys, "c", "-x", "betaH_dsprites_color", "--max-steps", 3, "-b", 16,
                          "--no-test", "--no-progress-bar", "--data-dir", dsprites_data_dir,
                          "--results-dir", results)
    assert outcome is None
    specs = json.loads((results / "c" / "specs.json").read_text())
    assert specs["dataset"] == "dsprites_color" and specs["img_size"] == [3, 64, 64]
    assert specs["data_variant"] == (f"color draw v{dsprites_variants.DRAW_VERSION} "
                                     f"seed {COLOR_SEED}")
    assert specs["betaH_B"] == 4 and specs["epochs"] == 30 and specs["steps"] == 3
    main_viz.main(["c", "traversals", "data-samples", "-s", "1", "--results-dir", str(results),
                   "--data-dir", str(dsprites_data_dir)])
    samples = np.asarray(Image.open(results / "c" / "data_samples.png").convert("RGB"))
    spread = samples.astype(int).max(axis=2) - samples.astype(int).min(axis=2)
    assert spread.max() > 40  # coloured sprites: channels differ, unlike grey dSprites
    assert (results / "c" / "prior_traversals.png").exists()
