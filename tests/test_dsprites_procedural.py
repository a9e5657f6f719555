"""Tests of the procedural dSprites renderer, on subsets only (never the full grid)."""
import numpy as np
import pytest

from utils.dsprites_procedural import (FACTOR_NAMES, FACTOR_SIZES, HEART_CENTROID_Y,
                                       factor_values, grid_classes, render_dsprites,
                                       render_sprite)

N_IMAGES = 737280
SHAPES = range(FACTOR_SIZES[1])
LARGEST_SCALE = FACTOR_SIZES[2] - 1
ORIENTATIONS = range(FACTOR_SIZES[3])
LAST_POS = FACTOR_SIZES[4] - 1


def classes_of(shape=0, scale=LARGEST_SCALE, orientation=0, pos_x=16, pos_y=16):
    """One row of classes, (1, 6) int64."""
    return np.array([[0, shape, scale, orientation, pos_x, pos_y]], dtype=np.int64)


def render_one(**kwargs):
    """The single (64, 64) image for the given classes (see classes_of)."""
    return render_dsprites(classes_of(**kwargs))["imgs"][0]


def centroid(img):
    """(row, column) centre of mass of the on pixels."""
    rows, cols = np.nonzero(img)
    return rows.mean(), cols.mean()


def test_factor_values():
    values = factor_values()
    assert FACTOR_NAMES == ("color", "shape", "scale", "orientation", "posX", "posY")
    assert FACTOR_SIZES == (1, 3, 6, 40, 32, 32)
    assert [len(v) for v in values] == list(FACTOR_SIZES)
    assert all(v.dtype == np.float64 for v in values)
    np.testing.assert_array_equal(values[0], [1.0])
    np.testing.assert_array_equal(values[1], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(values[2], [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert values[3][0] == 0.0 and values[3][-1] == 2 * np.pi
    np.testing.assert_allclose(np.diff(values[3]), 2 * np.pi / 39)
    for pos in values[4:]:
        assert pos[0] == 0.0 and pos[-1] == 1.0
        np.testing.assert_allclose(np.diff(pos), 1 / 31)


def test_grid_classes_follow_official_order():
    classes = grid_classes()
    assert classes.shape == (N_IMAGES, 6) and classes.dtype == np.int64
    np.testing.assert_array_equal(np.ravel_multi_index(classes.T, FACTOR_SIZES),
                                  np.arange(N_IMAGES))
    np.testing.assert_array_equal(classes[1], [0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(classes[32], [0, 0, 0, 0, 1, 0])


def test_output_shapes_dtypes_and_values():
    rows = np.random.default_rng(0).choice(N_IMAGES, size=300, replace=False)
    classes = grid_classes()[rows]
    data = render_dsprites(classes)
    assert data["imgs"].shape == (300, 64, 64) and data["imgs"].dtype == np.uint8
    assert data["latents_values"].shape == (300, 6)
    assert data["latents_values"].dtype == np.float64
    assert data["latents_classes"].dtype == np.int64
    assert set(np.unique(data["imgs"])) == {0, 1}
    np.testing.assert_array_equal(data["latents_classes"], classes)
    np.testing.assert_array_equal(np.ravel_multi_index(data["latents_classes"].T, FACTOR_SIZES),
                                  rows)
    values = factor_values()
    for j in range(6):
        np.testing.assert_array_equal(data["latents_values"][:, j], values[j][classes[:, j]])


def test_row_order_follows_requested_classes():
    rng = np.random.default_rng(1)
    classes = grid_classes()[rng.choice(N_IMAGES, size=40, replace=False)]
    classes = np.concatenate([classes, grid_classes()[5000:5300]])
    permutation = rng.permutation(len(classes))
    in_order = render_dsprites(classes)["imgs"]
    shuffled = render_dsprites(classes[permutation])["imgs"]
    np.testing.assert_array_equal(shuffled, in_order[permutation])


def test_subset_equals_rows_of_larger_call():
    block = np.arange(N_IMAGES)[(2 * 6 + 3) * 40 * 1024:(2 * 6 + 3) * 40 * 1024 + 4 * 1024]
    larger = render_dsprites(grid_classes()[block])
    picked = np.random.default_rng(2).choice(len(block), size=50, replace=False)
    subset = render_dsprites(larger["latents_classes"][picked])
    np.testing.assert_array_equal(subset["imgs"], larger["imgs"][picked])
    np.testing.assert_array_equal(subset["latents_values"], larger["latents_values"][picked])


@pytest.mark.parametrize("shape", SHAPES)
def test_every_sprite_in_frame_at_extreme_positions(shape):
    classes = np.array([[0, shape, scale, orientation, pos_x, pos_y]
                        for scale in (0, LARGEST_SCALE) for orientation in ORIENTATIONS
                        for pos_x in (0, LAST_POS) for pos_y in (0, LAST_POS)])
    imgs = render_dsprites(classes)["imgs"]
    assert (imgs.sum(axis=(1, 2)) > 0).all()
    assert not imgs[:, 0, :].any() and not imgs[:, -1, :].any()
    assert not imgs[:, :, 0].any() and not imgs[:, :, -1].any()


def test_position_translates_the_sprite():
    for shape in SHAPES:
        base = render_one(shape=shape, orientation=7, pos_x=0, pos_y=0)
        base_row, base_col = centroid(base)
        for step in (1, 15, LAST_POS):
            moved_x = render_one(shape=shape, orientation=7, pos_x=step, pos_y=0)
            moved_y = render_one(shape=shape, orientation=7, pos_x=0, pos_y=step)
            np.testing.assert_array_equal(moved_x, np.roll(base, step, axis=1))
            np.testing.assert_array_equal(moved_y, np.roll(base, step, axis=0))
            assert centroid(moved_x) == pytest.approx((base_row, base_col + step))
            assert centroid(moved_y) == pytest.approx((base_row + step, base_col))


def test_position_range_is_centred_in_frame():
    first = centroid(render_one(shape=1, pos_x=0, pos_y=0))
    last = centroid(render_one(shape=1, pos_x=LAST_POS, pos_y=LAST_POS))
    assert np.add(first, last) == pytest.approx((63.0, 63.0))


def test_scale_increases_area():
    for shape in SHAPES:
        for orientation in (0, 5, 13):
            areas = [render_one(shape=shape, scale=scale, orientation=orientation).sum()
                     for scale in range(FACTOR_SIZES[2])]
            assert np.all(np.diff(areas) > 0), (shape, orientation, areas)


def test_largest_sprites_are_a_quarter_to_a_third_of_the_frame():
    for shape in SHAPES:
        cols = np.nonzero(render_one(shape=shape).any(axis=0))[0]
        assert 64 / 4 <= cols.max() - cols.min() + 1 <= 64 / 3 + 2


def test_orientation_zero_and_two_pi_are_identical():
    classes = np.array([[0, shape, scale, orientation, 3, 29]
                        for shape in SHAPES for scale in range(6) for orientation in (0, 39)])
    imgs = render_dsprites(classes)["imgs"].reshape(3, 6, 2, 64, 64)
    np.testing.assert_array_equal(imgs[:, :, 0], imgs[:, :, 1])


def test_rotation_is_counter_clockwise_in_image_view():
    ellipse = render_one(shape=1, orientation=5)   # 5 * 2 pi / 39, about 46 degrees
    rows, cols = np.nonzero(ellipse)
    assert np.cov(cols, rows)[0, 1] < 0            # major axis runs up (smaller rows) to the right


def test_heart_is_upright_at_orientation_zero():
    heart = render_one(shape=2)
    widths = heart.sum(axis=1)
    rows = np.nonzero(widths)[0]
    top, bottom = rows.min(), rows.max()
    assert widths[top + 3] > widths[bottom - 3]    # lobes on top, point at the bottom
    assert heart[top, 32] == 0                     # notch between the lobes on the axis


def test_heart_centroid_constant():
    grid = np.linspace(-1.5, 1.5, 1501)
    x, y = np.meshgrid(grid, grid)
    inside = (x * x + y * y - 1) ** 3 <= x * x * y ** 3
    assert y[inside].mean() == pytest.approx(HEART_CENTROID_Y, abs=1e-3)


def test_shapes_differ():
    for orientation in (0, 11):
        imgs = [render_one(shape=shape, orientation=orientation) for shape in SHAPES]
        assert not np.array_equal(imgs[0], imgs[1])
        assert not np.array_equal(imgs[0], imgs[2])
        assert not np.array_equal(imgs[1], imgs[2])


@pytest.mark.parametrize("bad", [np.zeros((2, 5), dtype=int), np.zeros(6, dtype=int),
                                 [[0, 3, 0, 0, 0, 0]], [[0, 0, 0, 0, 32, 0]],
                                 [[0, 0, 0, 0, -1, 0]], np.zeros((1, 6))])
def test_invalid_classes_are_rejected(bad):
    with pytest.raises(ValueError):
        render_dsprites(bad)


# --------------------------------------------- calibration against the official images

OFFICIAL_MEAN_PIXEL = 0.042494  # published normalisation constants of DeepMind's file
OFFICIAL_STD_PIXEL = 0.2017
SCALES = factor_values()[2]


def lit_box(mask):
    """(first row, last row, first column, last column) of the on pixels."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    return rows.min(), rows.max(), cols.min(), cols.max()


def test_mean_pixel_of_the_whole_grid_matches_the_official_images():
    # Every image of the grid is one of the 720 sprite masks pasted whole inside the frame
    # (test_every_sprite_in_frame_at_extreme_positions, test_position_translates_the_sprite),
    # each mask at the same 1,024 positions, so the grid's mean pixel is exactly the mean of
    # the masks' sums over the 64 x 64 frame; the rendered rows below check the paste.
    values = factor_values()
    sums = np.array([[[render_sprite(shape, scale, orientation).sum()
                       for orientation in values[3]] for scale in values[2]] for shape in SHAPES])
    mean = sums.mean() / 64 ** 2
    assert mean == pytest.approx(OFFICIAL_MEAN_PIXEL, rel=0.02)
    assert np.sqrt(mean * (1 - mean)) == pytest.approx(OFFICIAL_STD_PIXEL, rel=0.02)
    rows = np.random.default_rng(3).choice(N_IMAGES, size=200, replace=False)
    classes = grid_classes()[rows]
    imgs = render_dsprites(classes)["imgs"]
    np.testing.assert_array_equal(imgs.sum(axis=(1, 2)), sums[tuple(classes[:, 1:4].T)])


@pytest.mark.parametrize("scale", SCALES)
def test_square_at_orientation_zero_is_a_full_square(scale):
    mask = render_sprite(0, scale, 0.0)
    top, bottom, left, right = lit_box(mask)
    assert bottom - top == right - left
    assert mask[top:bottom + 1, left:right + 1].all()
    assert mask.sum() == (bottom - top + 1) ** 2


@pytest.mark.parametrize("scale", SCALES)
def test_ellipse_at_orientation_zero_has_no_one_pixel_tips(scale):
    mask = render_sprite(1, scale, 0.0)
    top, bottom, left, right = lit_box(mask)
    ends = (mask[top], mask[bottom], mask[:, left], mask[:, right])
    assert min(end.sum() for end in ends) >= 3


@pytest.mark.parametrize("scale", SCALES)
def test_axis_aligned_edges_keep_clear_of_the_half_coverage_threshold(scale):
    # An edge on the 50% threshold flips its pixels for the smallest change of size.
    for change in (0.99, 1.01):
        np.testing.assert_array_equal(render_sprite(0, scale * change, 0.0),
                                      render_sprite(0, scale, 0.0))
        assert lit_box(render_sprite(1, scale * change, 0.0)) == lit_box(
            render_sprite(1, scale, 0.0))


def test_version_1_keeps_the_sizes_the_shipped_runs_were_trained_with():
    """The first sizes (square side 17 px) stay renderable, so runs trained on them can be
    checked; the calibrated version differs from them."""
    old, new = (render_sprite(0, 1.0, 0.0, version) for version in (1, 2))
    assert old.sum() == 17 ** 2 and new.sum() == 19 ** 2
