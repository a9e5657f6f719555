"""Procedural, vectorised rendering of the dSprites dataset.

dSprites (Matthey et al. 2017, DeepMind) holds 737,280 binary 64x64 images of one white sprite
on black, one image for every combination of six factors: color (1 value), shape (square,
ellipse, heart), scale (6 values in [0.5, 1]), orientation (40 values in [0, 2 pi], both ends
included, so the first and last orientations give the same image), posX and posY (32 values
each in [0, 1]). The images are stored in mixed-radix order of the factor classes, posY varying
fastest, so row = np.ravel_multi_index(classes.T, FACTOR_SIZES).

This module draws those images itself. It is a procedural re-creation, not DeepMind's file: the
factor values and the order are the official ones, but the pixels are only as close to the
official sprites as a description of them allows, so models trained here are comparable to,
not identical with, models trained on the official archive.

Geometry (pixel i covers [i, i + 1) in both axes; x is the column axis growing to the right,
y the row axis growing downward, as in the official images):

* Position: a sprite's centre lies on the centre of pixel (16 + 31 * posY, 16 + 31 * posX),
  i.e. it moves exactly one pixel per position step and spans the middle half of the frame
  (centres 16.5 ... 47.5, symmetric about the frame centre 32). The official values were
  chosen as the smallest steps that still change the image, i.e. one pixel, and keeping every
  centre on a pixel centre makes all positions of a sprite exact translations of one mask.
* Size at scale 1: square side 19 px, ellipse 21.66 x 10.83 px (major axis along x at
  orientation 0), heart about 21 px wide and high, i.e. roughly 1/3 of the frame; sizes are
  multiplied by the scale factor. The sizes are calibrated on two counts. (1) The mean pixel
  value over the whole grid is 0.04249 (std 0.2017, as for any binary images of that mean),
  that of the official images being 0.042494 (std 0.2017), the normalisation constants
  published for DeepMind's file. (2) At orientation 0 no edge of the square and no tip of
  the ellipse lies near a pixel centre at any scale: an edge within 1/8 pixel of a pixel
  centre half-covers its pixels, which then sit on the 50% threshold below, so a square
  lost its corner pixels (5/8 x 5/8 of a corner covered < 1/2 <= 5/8 of an edge pixel) and an
  ellipse ended in a one-pixel tip. Here the square's edges fall at most 1/8 pixel beyond a
  pixel boundary (full squares of side 9, 11, ..., 19 px), the ellipse's ends are at least
  3 px wide, and a 1% change of size changes neither the squares nor the ellipses' extents.
* Shapes: the heart is the region (x^2 + y^2 - 1)^3 <= x^2 y^3 (lobes up, point down at
  orientation 0), centred on its centroid; square and ellipse are centred on their centre.
* Orientation: rotation about the centre, counter-clockwise as seen in the image; angles are
  taken modulo 2 pi so that orientations 0 and 2 pi give identical images.
* Fit: every sprite is drawn in a 31 x 31 patch centred on its centre pixel (the farthest
  reach, the rotated square's half diagonal, is 19 / sqrt(2) = 13.4 px), and the patch spans
  columns/rows 1 + k ... 31 + k for position class k, so no sprite ever reaches the outer row
  or column.
* Pixels: each pixel is sampled on an 8 x 8 grid and is 1 when at least half of its samples
  lie inside the shape.

Speed: the 720 (shape, scale, orientation) masks are rendered once, then pasted at every
position with one array assignment per position (1,024 of them); the full grid takes a few
seconds and little memory beyond the 3 GB uint8 result.
"""
import typing

import numpy as np

FACTOR_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (1, 3, 6, 40, 32, 32)

IMAGE_SIZE = 64
PATCH_SIZE = 31
PATCH_CENTRE = PATCH_SIZE // 2
FIRST_CENTRE_PIXEL = 16
SUPERSAMPLING = 8

HEART_CENTROID_Y = 0.2935


class Geometry(typing.NamedTuple):
    """Sprite sizes at scale 1, in pixels."""
    square_side: float
    ellipse_semi_axes: tuple
    heart_unit: float


# Versions of the rendering: 1, the first sizes (mean pixel 0.039; squares of scales 0.6 and
# 0.7 without corners), with which the runs shipped in results/ were trained; 2, the calibrated
# sizes described above. Run folders record the version (specs.json: data_version).
GEOMETRIES = {1: Geometry(17.0, (11.5, 5.75), 9.2), 2: Geometry(19.0, (10.83, 5.415), 9.6)}
GEOMETRY_VERSION = 2

_SPRITE_COLUMNS = slice(FACTOR_NAMES.index("shape"), FACTOR_NAMES.index("orientation") + 1)
_SPRITE_SIZES = FACTOR_SIZES[_SPRITE_COLUMNS]
_POS_SIZES = FACTOR_SIZES[FACTOR_NAMES.index("posX"):]


def factor_values():
    """The official value of every class of each factor, as float64 arrays in FACTOR_NAMES order."""
    return [
        np.array([1.0]),
        np.array([1.0, 2.0, 3.0]),
        np.linspace(0.5, 1.0, 6),
        np.linspace(0.0, 2 * np.pi, 40),
        np.linspace(0.0, 1.0, 32),
        np.linspace(0.0, 1.0, 32),
    ]


def grid_classes():
    """The classes of the full grid, (737280, 6) int64, one row per image in official order."""
    count = int(np.prod(FACTOR_SIZES))
    return np.stack(np.unravel_index(np.arange(count), FACTOR_SIZES), axis=1).astype(np.int64)


def _inside_square(u, v, geometry):
    """Whether points (u, v), in scale-1 pixels with v pointing up, lie in the square."""
    return np.maximum(np.abs(u), np.abs(v)) <= geometry.square_side / 2


def _inside_ellipse(u, v, geometry):
    """Whether points (u, v), in scale-1 pixels with v pointing up, lie in the ellipse."""
    semi_u, semi_v = geometry.ellipse_semi_axes
    return (u / semi_u) ** 2 + (v / semi_v) ** 2 <= 1.0


def _inside_heart(u, v, geometry):
    """Whether points (u, v), in scale-1 pixels with v pointing up, lie in the heart."""
    x = u / geometry.heart_unit
    y = v / geometry.heart_unit + HEART_CENTROID_Y
    return (x * x + y * y - 1.0) ** 3 <= x * x * y ** 3


_INSIDE = (_inside_square, _inside_ellipse, _inside_heart)


def _sample_offsets():
    """Sample coordinates along one patch axis, relative to the sprite centre, in pixels.

    Pixel j of the patch is sampled at SUPERSAMPLING evenly spaced points; the centre pixel's
    centre is 0. The result has PATCH_SIZE * SUPERSAMPLING entries, grouped by pixel.
    """
    pixel = np.arange(PATCH_SIZE) - PATCH_CENTRE
    within = (np.arange(SUPERSAMPLING) + 0.5) / SUPERSAMPLING - 0.5
    return (pixel[:, None] + within[None, :]).ravel()


def render_sprite(shape_class, scale, orientation, version=GEOMETRY_VERSION):
    """One sprite, centred in a (PATCH_SIZE, PATCH_SIZE) uint8 patch of 0s and 1s.

    shape_class is 0, 1 or 2 (square, ellipse, heart), scale a size factor and orientation an
    angle in radians, counter-clockwise in the image; version selects the GEOMETRIES.
    """
    offsets = _sample_offsets()
    right = offsets[None, :]
    up = -offsets[:, None]
    angle = np.mod(orientation, 2 * np.pi)
    cos, sin = np.cos(angle), np.sin(angle)
    u = (right * cos + up * sin) / scale
    v = (up * cos - right * sin) / scale
    inside = _INSIDE[shape_class](u, v, GEOMETRIES[version])
    hits = inside.reshape(PATCH_SIZE, SUPERSAMPLING, PATCH_SIZE, SUPERSAMPLING).sum(axis=(1, 3))
    return (2 * hits >= SUPERSAMPLING ** 2).astype(np.uint8)


def _render_masks(sprite_ids, version):
    """Masks for the given flat (shape, scale, orientation) ids, (len(ids), PATCH, PATCH) uint8."""
    values = factor_values()
    shape, scale, orientation = np.unravel_index(sprite_ids, _SPRITE_SIZES)
    masks = np.empty((len(sprite_ids), PATCH_SIZE, PATCH_SIZE), dtype=np.uint8)
    for i in range(len(sprite_ids)):
        masks[i] = render_sprite(shape[i], values[2][scale[i]], values[3][orientation[i]],
                                 version)
    return masks


def _paste(imgs, masks, mask_index, pos_x, pos_y):
    """Write masks[mask_index[i]] into imgs[i] at position classes (pos_x[i], pos_y[i]).

    Images are grouped by position, so there is one assignment per distinct position.
    """
    pos_key = np.ravel_multi_index((pos_x, pos_y), _POS_SIZES)
    order = np.argsort(pos_key, kind="stable")
    keys, starts = np.unique(pos_key[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    for key, start, end in zip(keys, starts, ends):
        rows = order[start:end]
        col_class, row_class = np.unravel_index(key, _POS_SIZES)
        top = FIRST_CENTRE_PIXEL + row_class - PATCH_CENTRE
        left = FIRST_CENTRE_PIXEL + col_class - PATCH_CENTRE
        imgs[rows, top:top + PATCH_SIZE, left:left + PATCH_SIZE] = masks[mask_index[rows]]


def _check_classes(classes):
    """classes as an (M, 6) int64 array; ValueError if the shape or any class is out of range."""
    classes = np.asarray(classes)
    if classes.ndim != 2 or classes.shape[1] != len(FACTOR_SIZES):
        raise ValueError(f"latents_classes must have shape (M, {len(FACTOR_SIZES)}), "
                         f"got {classes.shape}")
    if not np.issubdtype(classes.dtype, np.integer):
        raise ValueError(f"latents_classes must be integers, got {classes.dtype}")
    if len(classes) and ((classes < 0).any() or (classes >= np.array(FACTOR_SIZES)).any()):
        raise ValueError(f"latents_classes out of range; sizes are {FACTOR_SIZES}")
    return classes.astype(np.int64)


def render_dsprites(latents_classes=None, version=GEOMETRY_VERSION):
    """Render dSprites images.

    latents_classes: (M, 6) integer classes in FACTOR_NAMES order, or None for the full grid of
    737,280 images in the official order (see grid_classes). A row's pixels do not depend on
    the other rows requested. version selects the sprite sizes (GEOMETRIES).

    Returns a dict with 'imgs' ((M, 64, 64) uint8 of 0s and 1s), 'latents_values'
    ((M, 6) float64) and 'latents_classes' ((M, 6) int64).
    """
    classes = grid_classes() if latents_classes is None else _check_classes(latents_classes)
    values = factor_values()
    latents_values = np.stack([values[j][classes[:, j]] for j in range(len(FACTOR_SIZES))],
                              axis=1)
    sprite_key = np.ravel_multi_index(classes[:, _SPRITE_COLUMNS].T, _SPRITE_SIZES)
    sprite_ids, mask_index = np.unique(sprite_key, return_inverse=True)
    masks = _render_masks(sprite_ids, version)
    imgs = np.zeros((len(classes), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    _paste(imgs, masks, mask_index, classes[:, -2], classes[:, -1])
    return {"imgs": imgs, "latents_values": latents_values, "latents_classes": classes}
