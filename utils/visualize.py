"""Pictures of a trained VAE: image grids, latent traversals, traversal GIFs, the training GIF.

Every picture is laid out by one helper, `image_grid`: images side by side with 2-px padding
(torchvision's `make_grid` layout, as in the original toolkit), the padding in the colour
opposite to the dataset's background (1 - background) so that it separates the images, and
1-channel images shown as RGB. Pictures are written atomically (temporary file, then rename),
so a failed plot never destroys an earlier one.

A traversal decodes codes in which one latent sweeps a range while the others stay fixed:
at 0 for the prior, at the posterior mean of one image for the posterior (Higgins et al. 2017;
Burgess et al. 2018). The range is absolute, [-t, t], for t >= 0.5, and otherwise
the central 2t probability mass of the latent's distribution: from the quantile 0.5 - t to
0.5 + t of N(0, 1) for the prior, of N(mu_d, sigma_d) for the posterior (so t = 0.475 gives
+-1.96 standard deviations around the mean).
"""
import contextlib
import json
import os
import re

import imageio.v3 as iio
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from scipy import stats

from disvae.models.losses import kl_normal_per_dim
from disvae.utils.run_folder import write_atomically, write_json
from utils.gif_append import NotAppendable, append_gif_frame, pad_frame

GRID_PADDING_PX = 2
GIF_FRAME_MS = 1000 / 12  # 12 frames per second, as the original toolkit
GIF_TRAVERSAL_STEPS = 15
LABEL_BAND_PX = 100  # narrowest band of row labels
LABEL_FONT_PX = 13
LABEL_LINE_PX = 17
DECODE_CHUNK = 512

TRAINING_GIF = "training.gif"
TRAINING_GIF_FRAMES = "training_gif_frames"
TRAINING_GIF_KL = "kl.json"  # in TRAINING_GIF_FRAMES: each frame's per-latent KL
TRAINING_GIF_KL_IMAGES = 256  # the fixed training images its KL is measured on
TRAINING_GIF_STEPS = 10
TRAINING_GIF_TRAVERSAL = 0.475  # quantile mode: +-1.96 prior standard deviations
TRAINING_GIF_MAX_ROWS = 64  # 64 rows of 64-pixel images: 4,354 pixels high

QUANTILE_MODE_BELOW = 0.5


# ------------------------------------------------------------------------- grids and files

def image_grid(images, n_cols, background_color, upsample=1, padding=GRID_PADDING_PX):
    """Lay images (N, C, H, W) in [0, 1] out in rows of n_cols; returns uint8 (H', W', 3).

    Each image is first enlarged `upsample` times (nearest neighbour). Sizes follow
    torchvision's make_grid: n_rows * (H * upsample + padding) + padding pixels high,
    n_cols * (W * upsample + padding) + padding wide; cells left over in the last row and
    the padding take the colour 1 - background_color.
    """
    images = images.detach().float().cpu().clamp(0, 1)
    if upsample > 1:
        images = images.repeat_interleave(upsample, dim=2).repeat_interleave(upsample, dim=3)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    n_images, _, height, width = images.shape
    n_rows = -(-n_images // n_cols)
    pad_value = 1.0 - background_color
    cells = torch.full((n_rows * n_cols, 3, height + padding, width + padding), pad_value)
    cells[:n_images, :, padding:, padding:] = images
    grid = (cells.view(n_rows, n_cols, 3, height + padding, width + padding)
            .permute(2, 0, 3, 1, 4).reshape(3, n_rows * (height + padding),
                                             n_cols * (width + padding)))
    grid = torch.nn.functional.pad(grid, (0, padding, 0, padding), value=pad_value)
    return (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def grid_row_centres(n_rows, image_height, upsample=1, padding=GRID_PADDING_PX, top=0):
    """Pixel centre of every row of an `image_grid` placed `top` pixels down (or, with widths,
    of every column placed `top` pixels right)."""
    cell = image_height * upsample + padding
    return [top + padding + row * cell + image_height * upsample / 2 for row in range(n_rows)]


def save_png(picture, path):
    return write_atomically(path, lambda partial: iio.imwrite(partial, picture,
                                                              extension=".png"))


def save_gif(frames, path, frame_ms=GIF_FRAME_MS):
    """A GIF looping forever, frame_ms milliseconds per frame (current imageio/Pillow take
    durations in ms, not frames per second). A GIF's frames share one size: smaller frames
    (e.g. with narrower labels) are padded with white to the largest."""
    height = max(frame.shape[0] for frame in frames)
    width = max(frame.shape[1] for frame in frames)
    stack = np.stack([pad_frame(frame, height, width) for frame in frames])
    return write_atomically(path, lambda partial: iio.imwrite(
        partial, stack, extension=".gif", duration=frame_ms, loop=0))


def label_font():
    return ImageFont.load_default(size=LABEL_FONT_PX)


def label_picture(picture, row_labels=(), row_centres=(), column_labels=(), column_centres=(),
                  caption=None):
    """picture with white bands for its labels: on the right each row label (one or more
    lines) centred on its row, below each column label centred under its column, then a
    caption line. The picture keeps its place at the top left."""
    height, width, _ = picture.shape
    font = label_font()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    right = max([LABEL_BAND_PX] + [measure.multiline_textbbox((0, 0), label, font=font)[2] + 10
                                   for label in row_labels]) if row_labels else 0
    lines = bool(column_labels) + bool(caption)
    bottom = LABEL_LINE_PX * lines + 4 * bool(lines)
    canvas = Image.new("RGB", (width + right, height + bottom), "white")
    canvas.paste(Image.fromarray(picture), (0, 0))
    draw = ImageDraw.Draw(canvas)
    for label, centre in zip(row_labels, row_centres):
        draw.multiline_text((width + 5, centre), label, fill="black", font=font, anchor="lm")
    for label, centre in zip(column_labels, column_centres):
        draw.text((centre, height + 2), label, fill="black", font=font, anchor="ma")
    if caption:
        draw.text((4, height + 2 + LABEL_LINE_PX * bool(column_labels)), caption, fill="black",
                  font=font)
    return np.asarray(canvas)


# ------------------------------------------------------------------------ model in and out

@contextlib.contextmanager
def evaluation(model):
    """Evaluation mode (z = posterior mean) without gradients, then the model's former mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def model_device(model):
    return next(model.parameters()).device


def decode(model, codes, chunk=DECODE_CHUNK):
    """Images (N, C, H, W) on the CPU decoded from codes (N, D), in chunks."""
    with evaluation(model):
        return torch.cat([model.decoder(part.to(model_device(model))).cpu()
                          for part in codes.split(chunk)])


def encode(model, images):
    """Posterior mean and standard deviation (N, D) of images, on the CPU."""
    with evaluation(model):
        mean, logvar = model.encoder(images.to(model_device(model)))
    return mean.cpu(), torch.exp(0.5 * logvar).cpu()


def reconstruct(model, images):
    """Decodings of the posterior means of images."""
    return decode(model, encode(model, images)[0])


# ------------------------------------------------------------------------------ traversals

def latent_kl_label(dim, kl):
    """The label of a traversal row: the latent's index and its KL in nats, `z3 KL 2.31`."""
    return f"z{dim} KL {kl:.2f}"


def traversal_values(n_steps, max_traversal, mean=0.0, std=1.0):
    """n_steps increasing values of one latent; see the module docstring for the two modes.

    The original toolkit returned (-ppf(0.5 - t), ppf(0.5 - t)) of N(mean, std) in quantile
    mode, a range centred on 0 instead of on the posterior mean; this one is centred on mean.
    """
    if max_traversal >= QUANTILE_MODE_BELOW:
        return torch.linspace(-max_traversal, max_traversal, n_steps)
    low, high = stats.norm.ppf([0.5 - max_traversal, 0.5 + max_traversal], loc=float(mean),
                               scale=float(std))
    return torch.linspace(float(low), float(high), n_steps)


def traversal_codes(latents, n_steps, max_traversal, mean, std):
    """Codes (len(latents), n_steps, D): `mean` (D,) with latent latents[i] swept in row i
    over the traversal range of N(mean[d], std[d])."""
    codes = mean.float().repeat(len(latents), n_steps, 1)
    for row, dim in enumerate(latents):
        codes[row, :, dim] = traversal_values(n_steps, max_traversal, mean[dim], std[dim])
    return codes


def prior_traversal_codes(latent_dim, latents, n_steps, max_traversal):
    return traversal_codes(latents, n_steps, max_traversal, torch.zeros(latent_dim),
                           torch.ones(latent_dim))


class Visualizer:
    """The picture types of main_viz.py for one model, each written into save_dir.

    latent_kl (D,) ranks the latents: traversal rows show the latents of largest KL first.
    `data` arguments are float image batches in [0, 1], the chosen samples in order.
    With labels, every picture gets `label_picture` bands: reconstruct.png names its rows,
    traversal rows name their latent, its KL and latent_factors[d] (the factor sharing the
    most information with latent d, where the data has ground truth), and traversal values
    stand under the columns.
    """

    def __init__(self, model, background_color, save_dir, latent_kl, upsample_factor=1,
                 max_traversal=2.0, labels=False, latent_factors=None):
        self.labels = labels
        self.latent_factors = latent_factors
        self.model = model
        self.background_color = background_color
        self.save_dir = save_dir
        self.latent_kl = np.asarray(latent_kl, dtype=float)
        self.latent_order = np.argsort(-self.latent_kl, kind="stable")
        self.upsample_factor = upsample_factor
        self.max_traversal = max_traversal

    def _grid(self, images, n_cols):
        return image_grid(images, n_cols, self.background_color, self.upsample_factor)

    def _path(self, filename):
        return os.path.join(self.save_dir, filename)

    def _top_latents(self, n_latents):
        if n_latents > len(self.latent_order):
            raise ValueError(f"{n_latents} traversal rows asked for a model with "
                             f"{len(self.latent_order)} latents")
        return self.latent_order[:n_latents]

    def _row_centres(self, n_rows, top=0):
        return grid_row_centres(n_rows, self.model_img_px, self.upsample_factor, top=top)

    @property
    def model_img_px(self):
        return self.model.img_size[-1]

    def latent_label(self, dim):
        """`z3 KL 2.31` and, on a second line, the latent's factor where known."""
        label = latent_kl_label(dim, self.latent_kl[dim])
        if self.latent_factors is not None and self.latent_factors[dim]:
            label += f"\n~ {self.latent_factors[dim]}"
        return label

    def _traversal_column_labels(self, n_steps, posterior):
        """The values of the traversed latent under the columns (its quantiles in the
        posterior's quantile mode, where every row has its own values)."""
        if posterior and self.max_traversal < QUANTILE_MODE_BELOW:
            levels = np.linspace(0.5 - self.max_traversal, 0.5 + self.max_traversal, n_steps)
            return [f"q{level:.2f}" for level in levels], "quantile of each latent's posterior"
        values = traversal_values(n_steps, self.max_traversal).tolist()
        return [f"{round(value, 2) + 0.0:g}" for value in values], "value of the traversed latent"

    def _label_traversal(self, picture, latents, n_steps, posterior, top_rows=(),
                         caption=None):
        """Row labels (top_rows first, then one per latent), traversal values under the
        columns and a caption saying what the columns are."""
        columns, meaning = self._traversal_column_labels(n_steps, posterior)
        centres = (self._row_centres(len(top_rows)) +
                   self._row_centres(len(latents), top=picture.shape[0] - (
                       len(latents) * (self.model_img_px * self.upsample_factor +
                                       GRID_PADDING_PX) + GRID_PADDING_PX)))
        return label_picture(picture, list(top_rows) + [self.latent_label(d) for d in latents],
                             centres, columns,
                             grid_row_centres(n_steps, self.model_img_px, self.upsample_factor),
                             caption or f"columns: {meaning}")

    def _traversal_images(self, n_latents, n_steps, sample=None):
        """Rows of traversals of the top n_latents, of the prior or of sample's posterior."""
        latents = self._top_latents(n_latents)
        if sample is None:
            codes = prior_traversal_codes(self.model.latent_dim, latents, n_steps,
                                          self.max_traversal)
        else:
            mean, std = encode(self.model, sample.unsqueeze(0))
            codes = traversal_codes(latents, n_steps, self.max_traversal, mean[0], std[0])
        return decode(self.model, codes.view(-1, self.model.latent_dim))

    def generate_samples(self, n_rows, n_cols, generator=None):
        """samples.png: decodings of codes drawn from the prior N(0, I)."""
        codes = torch.randn(n_rows * n_cols, self.model.latent_dim, generator=generator)
        return save_png(self._grid(decode(self.model, codes), n_cols), self._path("samples.png"))

    def data_samples(self, data, n_rows, n_cols):
        """data_samples.png: the first n_rows * n_cols chosen images."""
        return save_png(self._grid(data[:n_rows * n_cols], n_cols),
                        self._path("data_samples.png"))

    def reconstruct(self, data, n_rows, n_cols):
        """reconstruct.png: n_rows / 2 rows of images above their reconstructions."""
        if n_rows % 2:
            raise ValueError(f"reconstruct needs an even number of rows, got {n_rows}")
        originals = data[:n_rows // 2 * n_cols]
        images = torch.cat([originals, reconstruct(self.model, originals)])
        picture = self._grid(images, n_cols)
        if self.labels:
            picture = label_picture(picture, ["original"] * (n_rows // 2) +
                                    ["reconstruction"] * (n_rows // 2),
                                    self._row_centres(n_rows))
        return save_png(picture, self._path("reconstruct.png"))

    def traversals(self, n_rows, n_cols, sample=None):
        """prior_traversals.png (sample None) or posterior_traversals.png (around sample)."""
        filename = "prior_traversals.png" if sample is None else "posterior_traversals.png"
        images = self._traversal_images(n_rows, n_cols, sample)
        picture = self._grid(images, n_cols)
        if self.labels:
            picture = self._label_traversal(picture, self._top_latents(n_rows), n_cols,
                                            sample is not None)
        return save_png(picture, self._path(filename))

    def reconstruct_traverse(self, data, n_rows, n_cols, is_posterior=False,
                             is_show_loss=False):
        """reconstruct_traverse.png: a grid of n_cols images over their reconstructions, above
        a grid of n_rows traversals (of the prior, or of the first image's posterior); with
        is_show_loss (or labels), labels original / reconstruction / the traversed latents on
        the right (and, with labels, the traversal values under the columns)."""
        originals = data[:n_cols]
        top = self._grid(torch.cat([originals, reconstruct(self.model, originals)]), n_cols)
        traversals = self._traversal_images(n_rows, n_cols, data[0] if is_posterior else None)
        picture = np.concatenate([top, self._grid(traversals, n_cols)])
        if self.labels:
            picture = self._label_traversal(picture, self._top_latents(n_rows), n_cols,
                                            is_posterior, ["original", "reconstruction"])
        elif is_show_loss:
            labels = ["original", "reconstruction"] + [
                self.latent_label(d) for d in self._top_latents(n_rows)]
            centres = self._row_centres(2) + self._row_centres(n_rows, top=len(top))
            picture = label_picture(picture, labels, centres)
        return save_png(picture, self._path("reconstruct_traverse.png"))

    def gif_traversals(self, data, n_rows, n_cols, n_steps=GIF_TRAVERSAL_STEPS):
        """posterior_traversals.gif: the posteriors of the first n_cols images traversed
        together; rows = the top n_rows latents, columns = images, time = traversal value."""
        latents = self._top_latents(n_rows)
        means, stds = encode(self.model, data[:n_cols])
        codes = torch.stack([traversal_codes(latents, n_steps, self.max_traversal, mean, std)
                             for mean, std in zip(means, stds)])  # (image, latent, step, D)
        images = decode(self.model, codes.permute(2, 1, 0, 3).reshape(-1, self.model.latent_dim))
        per_frame = len(latents) * len(means)
        frames = [self._grid(images[step * per_frame:(step + 1) * per_frame], len(means))
                  for step in range(n_steps)]
        if self.labels:
            columns, meaning = self._traversal_column_labels(n_steps, posterior=True)
            frames = [label_picture(frame, [self.latent_label(d) for d in latents],
                                    self._row_centres(len(latents)),
                                    [f"image {i + 1}" for i in range(len(means))],
                                    grid_row_centres(len(means), self.model_img_px,
                                                     self.upsample_factor),
                                    f"{meaning}: {column}")
                      for frame, column in zip(frames, columns)]
        return save_gif(frames, self._path("posterior_traversals.gif"))


class TrainingGif:
    """Trainer hook that grows save_dir/training.gif by one frame per epoch, or, with
    every_steps, per every_steps steps (frames within long epochs, and at every epoch's end).

    A frame is the prior traversal of every latent (in index order, one row each; the first
    TRAINING_GIF_MAX_ROWS latents of larger models, so that a frame stays within what a GIF
    can hold) over 10 steps of +-1.96 standard deviations, as in the original toolkit.
    Frames are kept as PNG files in save_dir/training_gif_frames/ (epoch-<epoch>.png, or
    step-<step>.png with every_steps, so a resumed run replaces the frame of a repeated epoch
    or step). The first frame a process draws rewrites the GIF from those files (a resumed run
    drops the frames of the steps it repeats); each later one is appended to it
    (utils/gif_append.py): no earlier frame is decoded or encoded again. A stopped run
    keeps a valid GIF of its frames so far, and no frame is held in memory. The GIF's frames are
    labelled (`label_picture`): rows by latent and, given kl_images (a fixed batch of
    training images), by each latent's KL at that frame (`latent_kl_label`, as the
    traversal plots; the mean over kl_images of KL(q(z_d|x) || p(z_d)), kept per frame in
    training_gif_frames/kl.json), columns by traversal value, and the epoch or step as
    caption; the PNG frames stay bare. on_frame: callables receiving (step, frame) for every
    new bare frame (e.g. TensorBoard's image).
    """

    FRAME_NAME = re.compile(r"(epoch|step)-(\d+)\.png$")

    def __init__(self, save_dir, background_color, n_steps=TRAINING_GIF_STEPS,
                 max_traversal=TRAINING_GIF_TRAVERSAL, every_steps=0, on_frame=(),
                 kl_images=None):
        self.path = os.path.join(save_dir, TRAINING_GIF)
        self.frames_dir = os.path.join(save_dir, TRAINING_GIF_FRAMES)
        self.kl_path = os.path.join(self.frames_dir, TRAINING_GIF_KL)
        self.kl_images = kl_images
        self.background_color = background_color
        self.n_steps = n_steps
        self.max_traversal = max_traversal
        self.every_steps = every_steps
        self.on_frame = list(on_frame)
        self.frames_in_gif = None  # the frame files the GIF holds, once this object wrote it

    def frame(self, model):
        """The traversal grid of the model as it is now, uint8 (H, W, 3)."""
        latent_dim = model.latent_dim
        codes = prior_traversal_codes(latent_dim, range(min(latent_dim, TRAINING_GIF_MAX_ROWS)),
                                      self.n_steps, self.max_traversal)
        images = decode(model, codes.view(-1, latent_dim))
        return image_grid(images, self.n_steps, self.background_color)

    def latent_kl(self, model):
        """KL (nats) of every latent's posterior from the prior, averaged over kl_images."""
        with evaluation(model):
            mean, logvar = model.encoder(self.kl_images.to(model_device(model)))
            return kl_normal_per_dim(mean, logvar).tolist()

    def frame_kls(self):
        """{frame file name: per-latent KL} of the frames drawn so far."""
        if not os.path.exists(self.kl_path):
            return {}
        with open(self.kl_path) as handle:
            return json.load(handle)

    def labelled(self, frame, path, kls=None):
        """A bare frame with its labels; the caption comes from its file name, the KL of each
        row from kls (that frame's per-latent KL, or None: rows named by latent only)."""
        kind, index = self.FRAME_NAME.search(path).groups()
        image_px = (frame.shape[1] - GRID_PADDING_PX) // self.n_steps - GRID_PADDING_PX
        n_rows = (frame.shape[0] - GRID_PADDING_PX) // (image_px + GRID_PADDING_PX)
        values = traversal_values(self.n_steps, self.max_traversal).tolist()
        rows = ([f"z{d}" for d in range(n_rows)] if kls is None else
                [latent_kl_label(d, kls[d]) for d in range(n_rows)])
        return label_picture(frame, rows,
                             grid_row_centres(n_rows, image_px),
                             [f"{round(value, 1) + 0.0:g}" for value in values],
                             grid_row_centres(self.n_steps, image_px),
                             f"{kind} {int(index)}; columns: value of the traversed latent")

    def frame_paths(self, last):
        """Frame files up to epoch (or step, with every_steps) `last`, in order."""
        kind = "step" if self.every_steps else "epoch"
        frames = sorted((int(match.group(2)), name) for name in os.listdir(self.frames_dir)
                        if (match := self.FRAME_NAME.fullmatch(name)) and match.group(1) == kind)
        return [os.path.join(self.frames_dir, name) for index, name in frames if index <= last]

    def __call__(self, epoch, model, step=None):
        os.makedirs(self.frames_dir, exist_ok=True)
        last = step if self.every_steps else epoch
        name = f"step-{step:09d}.png" if self.every_steps else f"epoch-{epoch:05d}.png"
        frame = self.frame(model)
        save_png(frame, os.path.join(self.frames_dir, name))
        kls = self.frame_kls()
        if self.kl_images is not None:
            kls[name] = self.latent_kl(model)
            write_json(self.kl_path, kls)
        paths = self.frame_paths(last)
        try:
            if self.frames_in_gif != paths[:-1]:
                raise NotAppendable("the GIF holds other frames")
            append_gif_frame(self.path, self.labelled(frame, name, kls.get(name)), GIF_FRAME_MS)
        except (OSError, NotAppendable):  # first frame of this process (a resume), or no GIF
            save_gif([self.labelled(iio.imread(path), path, kls.get(os.path.basename(path)))
                      for path in paths], self.path)
        self.frames_in_gif = paths
        for callback in self.on_frame:
            callback(step, frame)
