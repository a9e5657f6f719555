"""The shared preprocessing of image files: centre crops, worker processes, and the cache
that is rebuilt when the files change or the cache is damaged."""
import functools

import numpy as np
import pytest

from datasets_support import chair_render
from utils.datasets_preprocess import (cached_images, centre_square_box, preprocess_all,
                                       preprocess_image)


def test_centre_square_boxes_of_celeba_and_chairs():
    assert centre_square_box(178, 218) == (0, 20, 178, 198)
    assert centre_square_box(600, 600, 400 / 600) == (100, 100, 500, 500)


def test_worker_processes_give_the_same_images_in_the_same_order():
    renders = [chair_render(shade) for shade in range(0, 250, 25)]
    preprocess = functools.partial(preprocess_image, side=64, mode="L", crop_fraction=2 / 3)
    alone = preprocess_all(renders, len(renders), preprocess, workers=1)
    pooled = preprocess_all(renders, len(renders), preprocess, workers=2)
    assert alone.shape == (10, 1, 64, 64) and np.array_equal(alone, pooled)
    assert alone[:, 0, 32, 32].tolist() == sorted(alone[:, 0, 32, 32].tolist())


def test_rgb_output_is_channels_first():
    image = preprocess_image(chair_render(90), side=32, mode="RGB")
    assert image.shape == (3, 32, 32) and image.dtype == np.uint8


def test_cache_is_reused_for_the_same_files_and_rebuilt_otherwise(tmp_path):
    path, calls = str(tmp_path / "cache.npz"), []

    def build(value):
        calls.append(value)
        return np.full((2, 1, 4, 4), value, dtype=np.uint8)
    assert cached_images(path, ["a", "b"], lambda: build(1)).max() == 1
    assert cached_images(path, ["a", "b"], lambda: build(2)).max() == 1
    assert cached_images(path, ["a", "c"], lambda: build(3)).max() == 3
    (tmp_path / "cache.npz").write_bytes(b"damaged")
    assert cached_images(path, ["a", "c"], lambda: build(4)).max() == 4
    assert calls == [1, 3, 4]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.npz", "cache_images.npy"]


def test_a_failed_build_leaves_no_cache(tmp_path):
    def build():
        raise OSError("unreadable image")
    with pytest.raises(OSError):
        cached_images(str(tmp_path / "cache.npz"), ["a"], build)
    assert list(tmp_path.iterdir()) == []
