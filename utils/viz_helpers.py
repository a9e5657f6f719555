"""A run's numbers, read back and charted: training curves, KL per latent, latent means
against the true factors, and the MI matrix of the metrics.

Readers parse the run folder's train_losses.log (`Epoch,Loss,Value` then `epoch,key,value`
lines), train_steps.log (the same with `Step` and the last step of each window) and
metrics.log (JSON); the charts are drawn with matplotlib's object-oriented API on
its Agg canvas (no display, no global pyplot state) and written atomically.
"""
import json
from collections import OrderedDict

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from disvae.utils.run_folder import LOSSES_HEADER, STEPS_HEADER, write_atomically
from disvae.utils.term_labels import PER_LATENT_KL, term_family, term_label

FAMILY_UNITS = {"discriminator": "cross-entropy (nats)"}  # else nats per image
LOG_SCALE_DECADES = 2  # a panel whose positive values span more decades is drawn log-scale
MI_MATRIX_SOURCES = ("mig_sampled", "mig_discrete")  # nested records, in order of preference
ACTIVE_MI_NATS = 0.05  # a latent sharing less with every factor is named after none
# names of categorical factor values (dSprites README: shape 1, 2, 3 = square, ellipse, heart)
FACTOR_VALUE_NAMES = {(dataset, "shape"): ("square", "ellipse", "heart")
                     for dataset in ("dsprites", "dsprites_color", "dsprites_noisy")}
CHART_DPI = 100


class RunLogError(ValueError):
    """A log file of a run that cannot be read; the message names the fix."""


# ------------------------------------------------------------------------------- readers

def read_loss_log(path):
    """(indices, {term: values}) from train_losses.log (indices: epochs) or train_steps.log
    (indices: steps): the logged indices in increasing order and, for every term, its value
    at each of them (NaN where an index lacks the term; a later line for the same index and
    term replaces an earlier one)."""
    with open(path) as handle:
        lines = handle.read().splitlines()
    if lines and lines[0].strip() in (LOSSES_HEADER, STEPS_HEADER):
        lines = lines[1:]
    table = OrderedDict()
    for number, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        try:
            index, key, value = line.split(",")
            table.setdefault(key, {})[int(index)] = float(value)
        except ValueError:
            raise RunLogError(f"{path} line {number} is not '<epoch or step>,term,value' "
                              f"({line!r}): delete that line or retrain the run") from None
    indices = sorted({index for values in table.values() for index in values})
    return np.array(indices, dtype=int), {
        key: np.array([values.get(index, np.nan) for index in indices]) for key, values in
        table.items()}


def last_epoch_kl(epochs, losses):
    """(epoch, KL (D,) in nats) of the latents at the last epoch that logged kl_loss_0 ...
    kl_loss_<D-1>; None if the log holds no such epoch."""
    dims = sorted((int(match.group(1)), key) for key in losses
                  if (match := PER_LATENT_KL.fullmatch(key)))
    if not dims or [dim for dim, _ in dims] != list(range(len(dims))):
        return None
    table = np.stack([losses[key] for _, key in dims], axis=1)  # (epoch, latent)
    logged = np.flatnonzero(~np.isnan(table).any(axis=1))
    if len(logged) == 0:
        return None
    return int(epochs[logged[-1]]), table[logged[-1]]


def kl_per_latent(mean, logvar):
    """Mean over images of KL(N(mean, exp(logvar)) || N(0, 1)) for every latent, in nats:
    0.5 (mean^2 + exp(logvar) - logvar - 1) (Kingma & Welling 2014, appendix B)."""
    mean, logvar = np.asarray(mean, dtype=float), np.asarray(logvar, dtype=float)
    return (0.5 * (mean ** 2 + np.exp(logvar) - logvar - 1)).mean(axis=0)


def read_metrics(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise RunLogError(f"{path} is not valid JSON ({error}): compute the metrics again "
                          f"with main.py --is-eval-only --is-metrics") from None


def mi_matrix_of(metrics):
    """(matrix (K, D), factor names) of a metrics record, or None when it holds none.

    The matrix is looked for under metrics[source]["mi_matrix"] (sources: mig_sampled, then
    mig_discrete), then at metrics["mi_matrix"]; rows are named by "mi_matrix_rows" in the
    record's recipe or beside the matrix, or by the record's factor_names.
    """
    records = [metrics[source] for source in MI_MATRIX_SOURCES
               if isinstance(metrics.get(source), dict)] + [metrics]
    for record in records:
        if record.get("mi_matrix") is None:
            continue
        matrix = np.array(record["mi_matrix"], dtype=float)
        names = (record.get("recipe", {}).get("mi_matrix_rows") or
                 record.get("mi_matrix_rows") or metrics.get("factor_names"))
        if not names or len(names) != len(matrix):
            names = [f"factor {k}" for k in range(len(matrix))]
        return matrix, list(names)
    return None


def factor_entropies(metrics):
    """{factor: entropy in nats} of the varying factors of a metrics record (mig_sampled's
    factor_entropies), or None when it holds none."""
    record = metrics.get("mig_sampled") if isinstance(metrics, dict) else None
    entropies = record.get("factor_entropies") if isinstance(record, dict) else None
    return dict(entropies) if entropies else None


def constant_factors(names, entropies):
    """The factors of names that do not vary (no or zero entropy in entropies; none known
    without entropies): they share no information with anything."""
    if entropies is None:
        return []
    return [name for name in names if entropies.get(name, 0.0) <= 0.0]


def latent_factors(matrix, names, entropies=None):
    """Per latent (column of the MI matrix (K, D)), the name of the varying factor it shares
    the most information with, or None when that is below ACTIVE_MI_NATS (a latent that
    encodes no factor)."""
    constant = constant_factors(names, entropies)
    varying = [k for k, name in enumerate(names) if name not in constant]
    result = []
    for column in np.asarray(matrix, dtype=float).T:
        best = max(varying, key=lambda k: column[k], default=None)
        result.append(names[best] if best is not None and column[best] >= ACTIVE_MI_NATS
                      else None)
    return result


def mean_per_class(values, classes, n_classes):
    """Mean of values (N, M) over the rows of each class 0 ... n_classes - 1 of classes (N,);
    (n_classes, M), NaN for a class without rows."""
    values = np.asarray(values, dtype=float).reshape(len(classes), -1)
    sums = np.zeros((n_classes, values.shape[1]))
    np.add.at(sums, classes, values)
    counts = np.bincount(classes, minlength=n_classes)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


# -------------------------------------------------------------------------------- charts

def term_families(keys):
    """Terms grouped into chart panels, in the order the panels first appear in keys."""
    families = OrderedDict()
    for key in keys:
        families.setdefault(term_family(key), []).append(key)
    return families


def save_figure(figure, path):
    return write_atomically(path, lambda partial: figure.savefig(partial, format="png",
                                                                 dpi=CHART_DPI))


def spans_decades(values, decades=LOG_SCALE_DECADES):
    """Whether values are all positive and span more than `decades` powers of ten."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return (len(values) > 0 and values.min() > 0 and
            np.log10(values.max() / values.min()) > decades)


def plot_loss_curves(indices, losses, path, title="", x_label="epoch"):
    """One panel per term family (objective, reconstruction, KL terms, KL of each latent,
    discriminator) with every term of the family against the epoch (or the step), labelled
    by `term_label`; a panel whose values span decades has a log y axis, terms never logged
    (all NaN) are left out, and each legend stands right of its panel."""
    logged = {key: values for key, values in losses.items() if np.isfinite(values).any()}
    families = term_families(logged)
    n_cols = min(2, len(families))
    n_rows = -(-len(families) // n_cols)
    figure = Figure(figsize=(6.5 * n_cols, 3.2 * n_rows), layout="constrained")
    axes = figure.subplots(n_rows, n_cols, squeeze=False).ravel()
    marker = "o" if len(indices) <= 20 else None
    for ax, (family, keys) in zip(axes, families.items()):
        for key in keys:
            ax.plot(indices, logged[key], marker=marker, markersize=3, label=term_label(key))
        if spans_decades(np.concatenate([logged[key] for key in keys])):
            ax.set_yscale("log")
        ax.set_xlabel(x_label)
        ax.set_ylabel(FAMILY_UNITS.get(family, "nats per image"))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.grid(alpha=0.3)
        if len(keys) == 1:  # the title names the only curve
            ax.set_title(term_label(keys[0]))
        else:
            ax.set_title(family)
            ax.legend(fontsize="small", ncol=2 if len(keys) > 6 else 1, loc="upper left",
                      bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    for ax in axes[len(families):]:
        ax.remove()
    figure.suptitle(title)
    return save_figure(figure, path)


def plot_kl_per_latent(kl, path, title):
    """Bar chart of the KL (nats) of every latent."""
    figure = Figure(figsize=(max(4.0, 0.5 * len(kl) + 2), 3.5), layout="constrained")
    ax = figure.subplots()
    ax.bar([f"z{d}" for d in range(len(kl))], kl, color="tab:blue")
    ax.set_ylabel("KL (nats)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(figure, path)


def plot_latent_vs_factor(factor_curves, latent_order, latent_kl, path, title):
    """Grid latent x factor: each cell the mean posterior mean of the latent against the
    factor's value (Chen et al. 2018, figure 2). factor_curves: [(name, values (V,),
    means (V, D))] per factor; rows follow latent_order (largest KL first). The layout is
    fixed by hand: matplotlib's automatic layouts take seconds for this many panels.
    A factor's curve may carry value_names (a 4th item, or None): its ticks then name the
    values (square, ellipse, heart)."""
    n_rows, n_cols = len(latent_order), len(factor_curves)
    width, height = 2.0 * n_cols + 1.0, 1.2 * n_rows + 1.2
    figure = Figure(figsize=(width, height))
    figure.subplots_adjust(left=0.9 / width, right=1 - 0.1 / width, bottom=0.55 / height,
                           top=1 - 0.7 / height, wspace=0.15, hspace=0.15)
    axes = figure.subplots(n_rows, n_cols, squeeze=False, sharex="col", sharey="row")
    for row, dim in enumerate(latent_order):
        for col, (name, values, means, *value_names) in enumerate(factor_curves):
            ax = axes[row, col]
            categorical = bool(value_names and value_names[0])  # points, not a line
            ax.plot(values, means[:, dim], color="tab:blue", linestyle="none" if categorical
                    else "-", marker="o" if len(values) <= 10 else None, markersize=3)
            ax.locator_params(nbins=3)
            ax.tick_params(labelsize=8)
        axes[row, 0].set_ylabel(f"z{dim}\nKL {latent_kl[dim]:.2f}", fontsize=8)
    for col, (name, values, _, *value_names) in enumerate(factor_curves):
        axes[0, col].set_title(name, fontsize=9)
        if value_names and value_names[0]:
            axes[-1, col].set_xticks(values, value_names[0])
        axes[-1, col].set_xlabel(f"{name} value", fontsize=8)
    figure.suptitle(title, fontsize=10, y=1 - 0.1 / height, va="top")
    return save_figure(figure, path)


def plot_mi_matrix(matrix, factor_names, path, title, latent_order=None, entropies=None,
                   normalised=False):
    """Heat map of the mutual information between each factor and each latent, in nats or,
    normalised, divided by the factor's entropy (the fraction of the factor a latent holds,
    as in MIG; Chen et al. 2018, eq. 6). Latents in latent_order (largest KL first); the
    factors that do not vary (see constant_factors) are left out and named under the map."""
    matrix = np.asarray(matrix, dtype=float)
    latent_order = np.arange(matrix.shape[1]) if latent_order is None else latent_order
    constant = constant_factors(factor_names, entropies)
    rows = [k for k, name in enumerate(factor_names) if name not in constant]
    names = [factor_names[k] for k in rows]
    shown = matrix[rows][:, latent_order]
    if normalised:
        if entropies is None:
            raise ValueError("normalised MI needs the factors' entropies")
        shown = shown / np.array([entropies[name] for name in names])[:, None]
    n_factors, n_latents = shown.shape
    figure = Figure(figsize=(0.65 * n_latents + 3.0, 0.5 * n_factors + 2.0),
                    layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(shown, cmap="viridis", aspect="auto", vmin=0,
                      vmax=1 if normalised else None)
    ax.set_xticks(range(n_latents), [f"z{d}" for d in latent_order])
    ax.set_yticks(range(n_factors), names)
    ax.set_xlabel("latent (largest KL first)")
    threshold = 0.5 * np.nanmax(shown) if np.isfinite(shown).any() else 0
    for (row, col), value in np.ndenumerate(shown):
        ax.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=8,
                color="black" if value > threshold else "white")
    figure.colorbar(image, ax=ax, label="MI / H(factor)" if normalised else "MI (nats)")
    ax.set_title(title)
    if constant:
        figure.text(0.01, 0.01, f"left out (constant): {', '.join(constant)}", fontsize=8)
    return save_figure(figure, path)
