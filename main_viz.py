"""Plots of a trained run: `python main_viz.py <name> all` (or a list of plot types).

Reads the run folder results/<name>/ (specs.json, model.pt, train_losses.log,
train_steps.log, metrics.log) and writes into it: samples.png, data_samples.png,
reconstruct.png, prior_traversals.png or posterior_traversals.png, reconstruct_traverse.png,
posterior_traversals.gif, loss_curves.png, kl_per_dim.png, latent_vs_factor.png,
mi_matrix.png. Traversal rows are the latents of largest KL at the last logged epoch
(train_losses.log), or, for runs without that log, of largest KL measured on images of the
dataset.
"""
import os
import re
import sys
from functools import cached_property

import numpy as np
import torch

from disvae.evaluate import encode_posterior
from disvae.utils.modelIO import load_model
from disvae.utils.run_folder import (METRICS_FILE, MODEL_FILE, TRAIN_LOSSES_FILE,
                                     TRAIN_STEPS_FILE, run_folder)
from utils import viz_helpers
from utils.cli import (USER_ERRORS, DefaultsHelpFormatter, OneLineErrorParser, positive_float,
                       positive_int, setup_logging)
from utils.config import load_specs
from utils.datasets import iterate_batches, training_data
from utils.helpers import get_device
from utils.performance import tune_allocator
from utils.visualize import GRID_PADDING_PX, Visualizer

IMAGE_PLOTS = ("generate-samples", "data-samples", "reconstruct", "traversals",
               "reconstruct-traverse", "gif-traversals")
CHART_PLOTS = ("loss-curves", "kl-per-dim", "latent-vs-factor", "mi-matrix")
PLOTS = IMAGE_PLOTS + CHART_PLOTS
TRAVERSAL_PLOTS = ("traversals", "reconstruct-traverse", "gif-traversals")
FACTOR_SUBSET_IMAGES = 10_000  # images encoded for latent-vs-factor
KL_MEASURE_IMAGES = 1_000  # images encoded to rank latents when train_losses.log is missing
ENCODE_BATCH = 500
SNAPSHOT_NAME = re.compile(r"model-(\d+)\.pt$")
DEFAULT_ROWS = 6
MAX_PICTURE_PX = 65_535


class PlotError(RuntimeError):
    """A plot request that cannot be met; the message names the fix."""


def build_parser():
    """The command line of the original toolkit's main_viz.py plus folders and new plots."""
    parser = OneLineErrorParser(description=__doc__, formatter_class=DefaultsHelpFormatter)
    parser.add_argument("name", help="run folder under the results folder")
    parser.add_argument("plots", nargs="+", choices=PLOTS + ("all",),
                        help="plots to make ('all': every type)")
    parser.add_argument("-s", "--seed", type=int, default=None,
                        help="random seed of the chosen images and prior samples (default: "
                             "different every time)")
    parser.add_argument("-r", "--n-rows", type=positive_int, default=None,
                        help=f"rows (for traversals: the number of latents shown) (default: "
                             f"{DEFAULT_ROWS}, and for traversals at most the run's latents)")
    parser.add_argument("-c", "--n-cols", type=positive_int, default=7,
                        help="columns (traversal steps, or images in the GIF)")
    parser.add_argument("-t", "--max-traversal", type=positive_float, default=2,
                        help="traversal range: [-t, t] if t >= 0.5, else the central 2t "
                             "probability mass of the latent's prior or posterior")
    parser.add_argument("-i", "--idcs", type=int, nargs="+", default=[],
                        help="dataset indices of images to show first (the rest are random)")
    parser.add_argument("-u", "--upsample-factor", type=positive_int, default=1,
                        help="enlarge every image this many times (nearest neighbour)")
    parser.add_argument("--is-show-loss", action="store_true",
                        help="label the rows of reconstruct-traverse with the latents' KL (with "
                             "--no-labels; without it every picture is labelled)")
    parser.add_argument("--no-labels", action="store_true",
                        help="bare image grids, without the bands of row and column labels")
    parser.add_argument("--mi-normalised", action="store_true",
                        help="mi-matrix shows each factor's MI divided by its entropy (as MIG "
                             "does) instead of nats")
    parser.add_argument("--is-posterior", action="store_true",
                        help="traverse the posterior of the first image instead of the prior")
    parser.add_argument("--results-dir", default="results", help="folder of the run folders")
    parser.add_argument("--data-dir", default=None,
                        help="folder of the datasets (default: data/ of the toolkit)")
    parser.add_argument("--no-cuda", action="store_true",
                        help="run on the CPU even if a GPU is available")
    return parser


class Run:
    """A run folder; its model, dataset, logs and chosen images are read on first use."""

    def __init__(self, args, device, logger):
        self.args = args
        self.device = device
        self.logger = logger
        self.name = args.name
        self.dir = run_folder(args.results_dir, args.name)
        if not os.path.isdir(self.dir):
            runs = sorted(entry for entry in os.listdir(args.results_dir)
                          if os.path.isdir(os.path.join(args.results_dir, entry))
                          ) if os.path.isdir(args.results_dir) else []
            known = f" (runs there: {', '.join(runs[:10])})" if runs else ""
            raise PlotError(f"no run {args.name!r} in {args.results_dir}{known}: check the name "
                            f"or pass --results-dir")
        self.rng = np.random.default_rng(args.seed)

    def path(self, filename):
        return os.path.join(self.dir, filename)

    @cached_property
    def specs(self):
        return load_specs(self.dir)

    @cached_property
    def model(self):
        """model.pt, else the latest model-<epoch>.pt of a stopped run (on self.device)."""
        filename = MODEL_FILE
        if not os.path.exists(self.path(filename)):
            snapshots = sorted((int(match.group(1)), name) for name in os.listdir(self.dir)
                               if (match := SNAPSHOT_NAME.fullmatch(name)))
            if snapshots:
                filename = snapshots[-1][1]
                self.logger.warning("%s has no %s: plotting its latest snapshot %s.", self.dir,
                                    MODEL_FILE, filename)
        return load_model(self.dir, self.specs["img_size"], self.specs["latent_dim"],
                          self.specs.get("model_type", "Burgess"), self.device, filename)

    @cached_property
    def dataset(self):
        return training_data(self.specs, self.args.data_dir)

    def _loss_log(self, filename):
        """(indices, {term: values}) of a losses log, or None without that file."""
        if not os.path.exists(self.path(filename)):
            return None
        return viz_helpers.read_loss_log(self.path(filename))

    @cached_property
    def train_losses(self):
        """(epochs, {term: values}) of train_losses.log, or None."""
        return self._loss_log(TRAIN_LOSSES_FILE)

    @cached_property
    def step_curves(self):
        """(last steps of the windows, {term: values}) of train_steps.log when it has two
        windows or more (a curve), else None."""
        curves = self._loss_log(TRAIN_STEPS_FILE)
        return curves if curves is not None and len(curves[0]) >= 2 else None

    @cached_property
    def metrics(self):
        """metrics.log as a dict, or None without that file."""
        if not os.path.exists(self.path(METRICS_FILE)):
            return None
        return viz_helpers.read_metrics(self.path(METRICS_FILE))

    def encode(self, indices):
        """Posterior means and log-variances (N, D) of the dataset's images at indices."""
        order = torch.as_tensor(indices, dtype=torch.long)
        mean, logvar = encode_posterior(self.model, iterate_batches(self.dataset, ENCODE_BATCH,
                                                                    order), self.device, False)
        return mean.numpy(), logvar.numpy()

    @cached_property
    def latent_kl(self):
        """(KL (D,) of every latent, where it comes from): the last logged epoch of
        train_losses.log, else measured on random images of the dataset."""
        logged = (viz_helpers.last_epoch_kl(*self.train_losses) if self.train_losses
                  else None)
        if logged is not None and len(logged[1]) == self.model.latent_dim:
            epoch, kl = logged
            return kl, f"epoch {epoch} of {TRAIN_LOSSES_FILE}"
        n_images = min(KL_MEASURE_IMAGES, len(self.dataset))
        self.logger.info("%s has no per-latent KL in %s: ranking the latents by their KL on "
                         "%d random images.", self.dir, TRAIN_LOSSES_FILE, n_images)
        indices = self.rng.choice(len(self.dataset), n_images, replace=False)
        return viz_helpers.kl_per_latent(*self.encode(indices)), f"{n_images} random images"

    @cached_property
    def samples(self):
        """The chosen images: -i indices first, then distinct random ones, n_rows * n_cols
        in all (fewer if the dataset is smaller)."""
        n_items, chosen = len(self.dataset), list(self.args.idcs)
        n_wanted = max(min(self.args.n_rows * self.args.n_cols, n_items), len(chosen))
        others = np.setdiff1d(np.arange(n_items), chosen)
        extra = self.rng.choice(others, min(n_wanted - len(chosen), len(others)), replace=False)
        indices = torch.as_tensor(np.concatenate([chosen, extra]).astype(np.int64))
        return self.dataset.batch(indices.to(self.dataset.device)).cpu()

    @cached_property
    def latent_factors(self):
        """Per latent, the name of the factor sharing the most information with it in
        metrics.log's MI matrix, or None without one (see viz_helpers.latent_factors)."""
        found = viz_helpers.mi_matrix_of(self.metrics) if self.metrics else None
        if found is None or found[0].shape[1] != self.specs["latent_dim"]:
            return None
        return viz_helpers.latent_factors(*found, viz_helpers.factor_entropies(self.metrics))

    @cached_property
    def visualizer(self):
        return Visualizer(self.model, self.dataset.background_color, self.dir, self.latent_kl[0],
                          self.args.upsample_factor, self.args.max_traversal,
                          labels=not self.args.no_labels, latent_factors=self.latent_factors)

    def torch_generator(self):
        return torch.Generator().manual_seed(int(self.rng.integers(2 ** 62)))


# ------------------------------------------------------------------------------- plots

def plot_generate_samples(run, args):
    return run.visualizer.generate_samples(args.n_rows, args.n_cols, run.torch_generator())


def plot_data_samples(run, args):
    return run.visualizer.data_samples(run.samples, args.n_rows, args.n_cols)


def plot_reconstruct(run, args):
    return run.visualizer.reconstruct(run.samples, args.n_rows, args.n_cols)


def plot_traversals(run, args):
    sample = run.samples[0] if args.is_posterior else None
    return run.visualizer.traversals(args.traversal_rows, args.n_cols, sample)


def plot_reconstruct_traverse(run, args):
    return run.visualizer.reconstruct_traverse(run.samples, args.traversal_rows, args.n_cols,
                                               args.is_posterior, args.is_show_loss)


def plot_gif_traversals(run, args):
    return run.visualizer.gif_traversals(run.samples, args.traversal_rows, args.n_cols)


def plot_loss_curves(run, args):
    """Against the step when train_steps.log has more windows than train_losses.log has
    epochs (short runs, long ones), else against the epoch: the finer of the two curves."""
    epochs, steps = run.train_losses, run.step_curves
    if steps is not None and (epochs is None or len(steps[0]) > len(epochs[0])):
        window = run.specs.get("log_every_steps", "")
        return viz_helpers.plot_loss_curves(
            steps[0], steps[1], run.path("loss_curves.png"),
            f"{run.name}: training losses (mean per window of {window} steps)", "step")
    return viz_helpers.plot_loss_curves(epochs[0], epochs[1], run.path("loss_curves.png"),
                                        f"{run.name}: training losses (mean per epoch)")


def plot_kl_per_dim(run, args):
    kl, source = run.latent_kl
    return viz_helpers.plot_kl_per_latent(kl, run.path("kl_per_dim.png"),
                                          f"{run.name}: KL of each latent ({source})")


def plot_latent_vs_factor(run, args):
    """Mean posterior mean of every latent per value of every varying factor, over a random
    subset of FACTOR_SUBSET_IMAGES images."""
    dataset = run.dataset
    n_images = min(FACTOR_SUBSET_IMAGES, len(dataset))
    indices = np.sort(run.rng.choice(len(dataset), n_images, replace=False))
    mean, _ = run.encode(indices)
    classes = np.asarray(dataset.factor_classes)[indices]
    values = np.asarray(dataset.factor_values, dtype=float)[indices]
    curves = []
    for k, (name, size) in enumerate(zip(dataset.factor_names, dataset.factor_sizes)):
        if size > 1:
            curves.append((name, viz_helpers.mean_per_class(values[:, k], classes[:, k],
                                                            size)[:, 0],
                           viz_helpers.mean_per_class(mean, classes[:, k], size),
                           viz_helpers.FACTOR_VALUE_NAMES.get((run.specs["dataset"], name))))
    kl = run.latent_kl[0]
    return viz_helpers.plot_latent_vs_factor(
        curves, np.argsort(-kl, kind="stable"), kl, run.path("latent_vs_factor.png"),
        f"{run.name}: mean posterior mean per factor value ({n_images} images)")


def plot_mi_matrix(run, args):
    """The MI matrix of metrics.log, latents in KL order (the ranking of every plot)."""
    matrix, names = viz_helpers.mi_matrix_of(run.metrics)
    kl = run.latent_kl[0]
    order = (np.argsort(-kl, kind="stable") if len(kl) == matrix.shape[1]
             else np.arange(matrix.shape[1]))
    what = "MI / factor entropy" if args.mi_normalised else "mutual information (nats)"
    return viz_helpers.plot_mi_matrix(matrix, names, run.path("mi_matrix.png"),
                                      f"{run.name}: {what}, factor x latent", order,
                                      viz_helpers.factor_entropies(run.metrics),
                                      args.mi_normalised)


PLOT_FUNCTIONS = {
    "generate-samples": plot_generate_samples,
    "data-samples": plot_data_samples,
    "reconstruct": plot_reconstruct,
    "traversals": plot_traversals,
    "reconstruct-traverse": plot_reconstruct_traverse,
    "gif-traversals": plot_gif_traversals,
    "loss-curves": plot_loss_curves,
    "kl-per-dim": plot_kl_per_dim,
    "latent-vs-factor": plot_latent_vs_factor,
    "mi-matrix": plot_mi_matrix,
}
assert tuple(PLOT_FUNCTIONS) == PLOTS


def metrics_command(run, args):
    folders = "" if args.results_dir == "results" else f" --results-dir {args.results_dir}"
    if args.data_dir:
        folders += f" --data-dir {args.data_dir}"
    return f"python main.py {run.name} --is-eval-only --is-metrics --no-test{folders}"


def missing_input(plot, run, args):
    """Why a plot cannot be made for this run (one line naming the fix), or None."""
    if plot == "loss-curves" and run.train_losses is None and run.step_curves is None:
        return (f"run {run.name!r} has no {TRAIN_LOSSES_FILE} (nor a {TRAIN_STEPS_FILE} of two "
                f"windows or more), which loss-curves plots: train the run with main.py")
    if plot == "mi-matrix":
        if run.metrics is None:
            return (f"run {run.name!r} has no {METRICS_FILE}, which mi-matrix plots: compute "
                    f"it with {metrics_command(run, args)}")
        if viz_helpers.mi_matrix_of(run.metrics) is None:
            return (f"{METRICS_FILE} of run {run.name!r} holds no MI matrix: compute it anew "
                    f"with {metrics_command(run, args)}")
        if args.mi_normalised and viz_helpers.factor_entropies(run.metrics) is None:
            return (f"{METRICS_FILE} of run {run.name!r} holds no factor entropies, which "
                    f"--mi-normalised divides by: compute it anew with "
                    f"{metrics_command(run, args)}")
    if plot == "latent-vs-factor" and not run.dataset.has_factors:
        return (f"dataset {run.specs['dataset']!r} of run {run.name!r} has no ground-truth "
                f"factors, which latent-vs-factor needs: use a run on a dataset with factors, "
                f"such as dsprites")
    return None


def check_picture_size(args, img_size):
    """PlotError unless a grid of -r rows and -c columns of images fits in a picture file
    (GIF and PNG writers take at most MAX_PICTURE_PX pixels a side)."""
    cell = img_size[-1] * args.upsample_factor + GRID_PADDING_PX
    for flag, count in (("-r", args.n_rows), ("-c", args.n_cols)):
        if count * cell + GRID_PADDING_PX > MAX_PICTURE_PX:
            most = (MAX_PICTURE_PX - GRID_PADDING_PX) // cell
            raise PlotError(f"{flag} {count} makes a picture {count * cell:,} pixels across; a "
                            f"picture file holds at most {MAX_PICTURE_PX:,}: pass {flag} {most} "
                            f"or less")


def plan(run, args):
    """The plots to make, checked before any is drawn: a bad request is an error, a plot of
    `all` the run cannot have is skipped with a note."""
    plots = PLOTS if "all" in args.plots else tuple(dict.fromkeys(args.plots))
    latent_dim = run.specs["latent_dim"]
    typed_rows = args.n_rows is not None
    args.n_rows = args.n_rows or DEFAULT_ROWS
    args.traversal_rows = args.n_rows if typed_rows else min(DEFAULT_ROWS, latent_dim)
    check_picture_size(args, run.specs["img_size"])
    if "reconstruct" in plots and args.n_rows % 2:
        raise PlotError(f"reconstruct shows rows/2 rows of images over their reconstructions, "
                        f"so it needs an even number of rows, got -r {args.n_rows}: pass "
                        f"-r {args.n_rows + 1}")
    if args.traversal_rows > latent_dim and any(plot in plots for plot in TRAVERSAL_PLOTS):
        raise PlotError(f"-r {args.n_rows} asks for {args.n_rows} traversal rows but run "
                        f"{run.name!r} has {latent_dim} latents: pass -r {latent_dim} or less")
    if args.idcs and any(plot in IMAGE_PLOTS for plot in plots):
        n_items = len(run.dataset)
        bad = [index for index in args.idcs if not 0 <= index < n_items]
        if bad:
            raise PlotError(f"-i {bad[0]} is not an index of the {n_items} images of "
                            f"{run.specs['dataset']}: pass indices from 0 to {n_items - 1}")
    kept = []
    for plot in plots:
        reason = missing_input(plot, run, args)
        if reason is None:
            kept.append(plot)
        elif plot in args.plots:
            raise PlotError(reason)
        else:
            run.logger.info("Skipping %s: %s.", plot, reason)
    return kept


def main(argv=None):
    tune_allocator()
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    logger = setup_logging("info")
    try:
        run = Run(args, get_device(args.no_cuda), logger)
        for plot in plan(run, args):
            logger.info("Wrote %s", PLOT_FUNCTIONS[plot](run, args))
    except USER_ERRORS + (PlotError, viz_helpers.RunLogError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
