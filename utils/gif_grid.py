"""Tile GIFs into one: `python -m utils.gif_grid OUT.gif --columns C IN.gif [IN.gif ...]`.

bin/plot_all.sh lays out the posterior-traversal GIFs of many runs with it (rows: losses,
columns: datasets), as the original toolkit's results/grid_posteriors.gif. Frame j of the
result shows frame j of every input, in row-major order of the inputs, separated by 7-px white
pads (as the original). Missing inputs leave a white cell; rows or columns without any input
are dropped (with their labels). Inputs of different sizes are centred in cells of the
largest size, and shorter GIFs hold their last frame. The cells are laid out by
`utils.visualize.image_grid`; --row-labels and --column-labels name the rows (on the right)
and the columns (below) with `utils.visualize.label_picture`.
"""
import argparse
import os
import sys

import imageio.v3 as iio
import numpy as np
import torch

from utils.visualize import grid_row_centres, image_grid, label_picture, save_gif

CELL_PADDING_PX = 7
WHITE = 255


class GifGridError(ValueError):
    """A grid that cannot be made; the message names the fix."""


def read_frames(path):
    """The frames of a GIF as uint8 (F, H, W, 3)."""
    try:
        frames = iio.imread(path, index=None)
    except (OSError, ValueError) as error:
        raise GifGridError(f"cannot read {path} ({error}): make it again with main_viz.py "
                           f"<run> gif-traversals") from None
    if frames.ndim == 3:  # one frame, or grey frames
        frames = frames[None] if frames.shape[-1] in (3, 4) else frames[..., None]
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    return frames[..., :3]


def fit_cell(frames, n_frames, height, width):
    """frames (F, H, W, 3) centred on a white (n_frames, height, width, 3) cell, the last
    frame repeated up to n_frames; None (a missing input) gives a white cell."""
    cell = np.full((n_frames, height, width, 3), WHITE, dtype=np.uint8)
    if frames is not None:
        count, h, w, _ = frames.shape
        top, left = (height - h) // 2, (width - w) // 2
        cell[:, top:top + h, left:left + w] = frames[np.minimum(np.arange(n_frames), count - 1)]
    return cell


def check_labels(labels, count, what):
    if labels is not None and len(labels) != count:
        raise GifGridError(f"--{what}-labels names {len(labels)} labels for {count} {what}s: "
                           f"pass one per {what}")


def tile_gifs(paths, n_cols, out_path, row_labels=None, column_labels=None):
    """Write the grid of the GIFs `paths` (row-major, n_cols per row) to out_path, its rows
    and columns named by row_labels and column_labels when given; returns the paths that
    were missing. GifGridError if none exists, the count is not a multiple of n_cols or the
    labels do not match the rows or columns."""
    if n_cols < 1 or len(paths) % n_cols:
        raise GifGridError(f"{len(paths)} GIFs cannot fill rows of {n_cols}: pass rows x "
                           f"columns paths (a missing one is left blank)")
    grid = np.array(paths, dtype=object).reshape(-1, n_cols)
    check_labels(row_labels, len(grid), "row")
    check_labels(column_labels, n_cols, "column")
    present = np.vectorize(os.path.isfile, otypes=[bool])(grid)
    if not present.any():
        raise GifGridError(f"none of the {len(paths)} GIFs exists (e.g. {paths[0]}): make "
                           f"them first with main_viz.py <run> gif-traversals")
    kept_rows, kept_cols = present.any(axis=1), present.any(axis=0)
    grid = grid[kept_rows][:, kept_cols]
    rows = [label for label, kept in zip(row_labels or [], kept_rows) if kept]
    columns = [label for label, kept in zip(column_labels or [], kept_cols) if kept]
    frames = [read_frames(path) if os.path.isfile(path) else None for path in grid.ravel()]
    shapes = np.array([f.shape[:3] for f in frames if f is not None])
    n_frames, height, width = shapes.max(axis=0)
    cells = np.stack([fit_cell(f, n_frames, height, width) for f in frames])  # (cell, F, H, W, 3)
    images = torch.from_numpy(cells).permute(1, 0, 4, 2, 3).float() / WHITE
    # image_grid pads with 1 - background: background 0 gives the original's white pads
    frames = [image_grid(step, grid.shape[1], background_color=0.0, padding=CELL_PADDING_PX)
              for step in images]
    if rows or columns:
        frames = [label_picture(frame, rows, grid_row_centres(len(rows), height,
                                                              padding=CELL_PADDING_PX),
                                columns, grid_row_centres(len(columns), width,
                                                          padding=CELL_PADDING_PX))
                  for frame in frames]
    save_gif(frames, out_path)
    return [path for path in paths if not os.path.isfile(path)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", help="GIF to write")
    parser.add_argument("inputs", nargs="+", help="GIFs to tile, row after row")
    parser.add_argument("--columns", type=int, required=True, help="GIFs per row")
    parser.add_argument("--row-labels", nargs="+", help="a name for each row (right of it)")
    parser.add_argument("--column-labels", nargs="+", help="a name for each column (below)")
    args = parser.parse_args(argv)
    try:
        missing = tile_gifs(args.inputs, args.columns, args.output, args.row_labels,
                            args.column_labels)
    except GifGridError as error:
        sys.exit(f"error: {error}")
    for path in missing:
        print(f"not found (left blank or out): {path}")
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
