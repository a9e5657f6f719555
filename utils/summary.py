"""One table of every run of a results folder: `python -m utils.summary [--results-dir DIR]`.

Gathers each run folder of DIR (a folder with a specs.json) into DIR/summary.csv and
DIR/summary.md, one row per run: its name, loss, dataset, the hyperparameters of its loss
(beta, gamma, C, alpha ...), its steps, its reconstruction and KL at the end of training (the
last window of train_steps.log), the terms of its last logged training epoch
(train_losses.log), its test losses (test_losses.log) and its disentanglement scores
(metrics.log). With --udr, the runs of every setting trained with several seeds are first
scored by UDR into DIR/udr.csv (utils.udr_runs), shown in the UDR column. DIR/summary.png
compares the losses: the sampled-entropy MIG and the FactorVAE score of each run against its
reconstruction loss at the end of training. Values a run does not have (no metrics yet, a term
its loss does not log) are empty cells.

Runs that differ only in their seed are also grouped by setting, with the number of seeds,
mean, standard deviation, median and 95% bootstrap interval of every loss and score, in
DIR/summary_by_setting.csv and .md (utils/spread.py).
"""
import argparse
import csv
import io
import json
import math
import os
import sys
from collections import Counter

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from disvae.objectives import COMMON_TERMS, registered
from disvae.utils.run_folder import (METRICS_FILE, SPECS_FILE, TEST_LOSSES_FILE,
                                     TRAIN_LOSSES_FILE, TRAIN_STEPS_FILE, write_atomically)
from utils import spread, spread_figures
from utils.cli import USER_ERRORS
from utils.config import ConfigError, load_specs
from utils.viz_helpers import (PER_LATENT_KL, RunLogError, read_loss_log, read_metrics,
                               save_figure)

OUTPUT_NAME = "summary"

RUN_COLUMNS = {  # column: option of specs.json (the name is the run folder's)
    "loss": "loss", "dataset": "dataset", "data_source": "data_source",
    "steps": "steps", "batch_size": "batch_size", "lr": "lr", "latent_dim": "latent_dim",
    "rec_dist": "rec_dist", "reg_anneal": "reg_anneal",
}
METRIC_COLUMNS = {  # column: path of the value in metrics.log (disvae.metrics.suite)
    "metric_images": ("n_images",),  # images scored: the dataset, or a random subset
    "MIG": ("MIG",),
    "MIG_without_shape": ("mig_sampled", "mig_without_shape"),
    "AAM": ("AAM",),
    "MIG_discrete": ("mig_discrete", "mig"),
    "BetaVAE": ("betavae", "eval_accuracy"),
    "FactorVAE": ("factorvae", "eval_accuracy"),
    "DCI_disentanglement": ("dci", "disentanglement"),
    "DCI_completeness": ("dci", "completeness"),
    "DCI_informativeness": ("dci", "informativeness_test"),
    "DCI_trees": ("dci", "recipe", "n_estimators"),
    "SAP": ("sap", "sap"),
    "modularity": ("modularity_explicitness", "modularity"),
    "explicitness": ("modularity_explicitness", "explicitness_test"),
    "IRS": ("irs", "irs"),
    "gaussian_TC": ("unsupervised", "gaussian_total_correlation"),
    "gaussian_WC": ("unsupervised", "gaussian_wasserstein_correlation"),
    "gaussian_WC_norm": ("unsupervised", "gaussian_wasserstein_correlation_norm"),
    "MI_score": ("unsupervised", "mutual_info_score"),
}
UDR_FILE = "udr.csv"  # written by --udr (utils.udr_runs), read into the UDR column
UDR_COLUMNS = ("name", "setting", "seed", "UDR", "n_models", "active_latents", "correlation",
               "kl_threshold", "n_points")
SCORE_COLUMNS = (*METRIC_COLUMNS, "UDR")
RECIPE_COLUMNS = ("metric_images", "DCI_trees")  # how a run was scored, not scores
BY_OBJECTIVE_FIGURE = "summary_by_objective.png"  # utils.spread_figures
CORRELATIONS_FIGURE = "metric_correlations.png"
BY_HYPERPARAMETER_FIGURE = "scores_by_hyperparameter.png"
FIGURE_SCORES = (("MIG", "MIG (sampled entropies)"),
                 ("FactorVAE", "FactorVAE score (eval accuracy)"))
FINAL_TERMS = ("recon_loss", "kl_loss")  # reported at the end of training too
FIGURE_X = {"final_recon_loss": "reconstruction loss over the last logged window of steps",
            "train_recon_loss": "reconstruction loss, mean over the last training epoch"}
MARKERS = "osD^vP*X"


def loss_hyperparameters():
    """{loss: {column (the paper's symbol): option of specs.json}}, from the objectives'
    declarations (disvae.objectives)."""
    return {name: {h.symbol: h.name for h in objective.hyperparameters}
            for name, objective in registered().items()}


def hyperparameter_columns():
    """The symbols of every registered objective's hyperparameters, each once, in declaration
    order (a run's cells of other objectives' symbols are empty)."""
    return list(dict.fromkeys(column for columns in loss_hyperparameters().values()
                              for column in columns))


def ordered_terms():
    """Logged loss terms in display order (the common ones, then each objective's); terms of
    other names follow, sorted."""
    return list(dict.fromkeys([*COMMON_TERMS, *(term for objective in registered().values()
                                                for term in objective.terms)]))


class SummaryError(ValueError):
    """A results folder that cannot be summarised; the message names the fix."""


def warn(message):
    print(f"warning: {message}", file=sys.stderr)


# ------------------------------------------------------------------------------- reading

def run_folders(results_dir):
    """The run folders (with a specs.json) directly under results_dir, sorted by name."""
    if not os.path.isdir(results_dir):
        raise SummaryError(f"no folder {results_dir}: train runs first (bin/train_all.sh) or "
                           f"pass --results-dir")
    return [os.path.join(results_dir, entry) for entry in sorted(os.listdir(results_dir))
            if os.path.isfile(os.path.join(results_dir, entry, SPECS_FILE))]


def term_order(term):
    order = ordered_terms()
    return (order.index(term), "") if term in order else (len(order), term)


def final_train_losses(path):
    """{term: value} at the last epoch of train_losses.log, per-latent KLs left out."""
    epochs, losses = read_loss_log(path)
    if len(epochs) == 0:
        return {}
    return {term: float(values[-1]) for term, values in losses.items()
            if not PER_LATENT_KL.fullmatch(term) and not math.isnan(values[-1])}


def last_window_losses(path):
    """{term: value} of FINAL_TERMS in the last window of train_steps.log: the means over the
    last log_every_steps steps (fewer when the run stopped within a window)."""
    steps, losses = read_loss_log(path)
    if len(steps) == 0:
        return {}
    return {term: float(losses[term][-1]) for term in FINAL_TERMS
            if term in losses and not math.isnan(losses[term][-1])}


def read_test_losses(path):
    try:
        with open(path) as handle:
            losses = json.load(handle)
    except json.JSONDecodeError as error:
        raise RunLogError(f"{path} is not valid JSON ({error}): compute the test losses again "
                          f"with main.py <name> --is-eval-only") from None
    return {term: value for term, value in losses.items()
            if not PER_LATENT_KL.fullmatch(term) and term != "order_seed"}


def metric_value(metrics, path):
    """The number at path in a metrics record; None where it is missing (an older record,
    or a score that failed and holds an "error")."""
    value = metrics
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def optional_file(run_dir, filename, reader):
    """reader(path) of a run's file; {} without the file, or with a warning if unreadable."""
    path = os.path.join(run_dir, filename)
    if not os.path.isfile(path):
        return {}
    try:
        return reader(path)
    except (RunLogError, OSError) as error:
        warn(f"{error}; its cells are left empty")
        return {}


def run_row(run_dir):
    """The summary row of one run folder: {column: value}."""
    specs = load_specs(run_dir)
    row = {"name": os.path.basename(run_dir)}
    row.update({column: specs.get(option) for column, option in RUN_COLUMNS.items()})
    for column, option in loss_hyperparameters().get(specs.get("loss"), {}).items():
        row[column] = specs.get(option)
    final = optional_file(run_dir, TRAIN_STEPS_FILE, last_window_losses)
    row.update({f"final_{term}": value for term, value in final.items()})
    train = optional_file(run_dir, TRAIN_LOSSES_FILE, final_train_losses)
    row.update({f"train_{term}": value for term, value in train.items()})
    test = optional_file(run_dir, TEST_LOSSES_FILE, read_test_losses)
    row.update({f"test_{term}": value for term, value in test.items()})
    metrics = optional_file(run_dir, METRICS_FILE, read_metrics)
    row.update({column: metric_value(metrics, path) for column, path in METRIC_COLUMNS.items()})
    return row


def row_order(row):
    loss, losses = row.get("loss"), list(registered())
    return (str(row.get("dataset")), losses.index(loss) if loss in losses else len(losses),
            row["name"])


def summary_table(results_dir):
    """(columns, rows) of every run of results_dir, rows sorted by dataset, loss, name."""
    rows = []
    for run_dir in run_folders(results_dir):
        try:
            rows.append(run_row(run_dir))
        except ConfigError as error:
            warn(f"{error}; run {run_dir} is left out")
    if not rows:
        raise SummaryError(f"no run folder (a folder with {SPECS_FILE}) in {results_dir}: "
                           f"train runs first (bin/train_all.sh) or pass --results-dir")
    rows.sort(key=row_order)
    udr_scores = read_udr(results_dir)
    for row in rows:
        row["UDR"] = udr_scores.get(row["name"])
    splits = ("final", "train", "test")
    terms = {key for row in rows for key in row if key.startswith(tuple(f"{split}_"
                                                                        for split in splits))}
    loss_columns = [f"{split}_{term}" for split in splits
                    for term in sorted({key.split("_", 1)[1] for key in terms
                                        if key.startswith(split + "_")}, key=term_order)]
    columns = ["name", *RUN_COLUMNS, *hyperparameter_columns(), *loss_columns, *SCORE_COLUMNS]
    return columns, rows


def read_udr(results_dir):
    """{run name: UDR} from DIR/udr.csv (written by --udr); empty when there is none."""
    path = os.path.join(results_dir, UDR_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path, newline="") as handle:
        return {row["name"]: float(row["UDR"]) for row in csv.DictReader(handle)
                if row.get("UDR")}


# ------------------------------------------------------------------------------- writing

def csv_cell(value):
    return "" if value is None else value


def markdown_cell(value):
    """Numbers with 4 significant digits (integers in full), None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def write_csv(columns, rows, path):
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[csv_cell(row.get(column)) for column in columns] for row in rows])
    return write_text(text.getvalue(), path)


def markdown_table(columns, rows):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(markdown_cell(row.get(column)) for column in columns) + " |"
              for row in rows]
    return "\n".join(lines)


def write_markdown(columns, rows, path):
    """Two tables, one row per run in each: the runs (options, losses), then their scores."""
    run_columns = [column for column in columns if column not in SCORE_COLUMNS]
    score_columns = ["name", "loss", "dataset", *SCORE_COLUMNS]
    text = "\n\n".join([
        "# Summary of the runs",
        f"final_ columns: the means over the last logged window of steps ({TRAIN_STEPS_FILE}, "
        f"log_every_steps steps), the state of the model at the end of training. train_ "
        f"columns: the means over the steps of the last logged epoch ({TRAIN_LOSSES_FILE}; "
        f"for a run stopped within its first epoch, over the whole run). test_ columns: those "
        f"of {TEST_LOSSES_FILE}. All in nats per image. Empty cells: values a run does not "
        f"have.",
        "## Runs", markdown_table(run_columns, rows),
        "## Disentanglement scores",
        f"From {METRICS_FILE}, on metric_images images (the dataset or a random subset of "
        f"it): MIG and AAM from sampled entropies (MIG_without_shape leaves the shape factor "
        f"out), MIG_discrete from 20-bin histograms, BetaVAE and FactorVAE the evaluation "
        f"accuracies, DCI (with DCI_trees boosted trees per factor) informativeness and "
        f"explicitness on held-out images; IRS, and gaussian_TC, gaussian_WC(_norm) and "
        f"MI_score (no labels needed, lower is more factorised) on posterior means. UDR: "
        f"from {UDR_FILE} (python -m utils.summary --udr), for settings trained with several "
        f"seeds.",
        markdown_table(score_columns, rows)]) + "\n"
    return write_text(text, path)


def write_text(text, path):
    def write(partial):
        with open(partial, "w", newline="") as handle:
            handle.write(text)
    return write_atomically(path, write)


def figure_x(rows):
    """The reconstruction column of the figure: at the end of training where every run has
    it (runs with train_steps.log), else the mean of the last epoch."""
    final, epoch = FIGURE_X
    return final if all(row.get(final) is not None for row in rows) else epoch


def plot_summary(rows, path):
    """Each score of FIGURE_SCORES against the reconstruction loss (figure_x), one point
    per run: colour = loss, marker = dataset (in the legend when there are several), and
    the run's name beside the points that the legend alone cannot tell apart (several runs
    of one loss and dataset)."""
    x_column = figure_x(rows)
    losses = [loss for loss in registered() if any(row.get("loss") == loss for row in rows)]
    datasets = sorted({str(row.get("dataset")) for row in rows})
    colours = {loss: f"C{i}" for i, loss in enumerate(registered())}
    markers = {dataset: MARKERS[i % len(MARKERS)] for i, dataset in enumerate(datasets)}
    figure = Figure(figsize=(6 * len(FIGURE_SCORES), 4.8), layout="constrained")
    for ax, (score, label) in zip(figure.subplots(1, len(FIGURE_SCORES), squeeze=False)[0],
                                  FIGURE_SCORES):
        points = [row for row in rows if row.get(score) is not None
                  and row.get(x_column) is not None]
        kinds = Counter((row.get("loss"), row.get("dataset")) for row in points)
        for row in points:
            ax.scatter(row[x_column], row[score], color=colours.get(row["loss"], "k"),
                       marker=markers[str(row.get("dataset"))], s=40)
            if kinds[row.get("loss"), row.get("dataset")] > 1:
                ax.annotate(row["name"], (row[x_column], row[score]), fontsize=8,
                            xytext=(4, 3), textcoords="offset points")
        if not points:
            ax.text(0.5, 0.5, f"no run has both {score} and {x_column}\n(compute metrics "
                    f"with bin/metrics_all.sh)", ha="center", va="center",
                    transform=ax.transAxes)
        ax.set_xlabel(f"{FIGURE_X[x_column]} (nats per image)")
        ax.set_ylim(bottom=0)
        ax.set_ylabel(label)
        ax.set_title(f"{score} against reconstruction")
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=colours[loss], marker="o", linestyle="", label=loss)
               for loss in losses]
    if len(datasets) > 1:
        handles += [Line2D([], [], color="gray", marker=markers[dataset], linestyle="",
                           label=dataset) for dataset in datasets]
    figure.legend(handles=handles, loc="outside right center", fontsize="small",
                  title="objective" if len(datasets) == 1 else "objective, dataset")
    return save_figure(figure, path)


def write_spread(columns, rows, results_dir):
    """Write summary_by_setting.csv and .md (the runs grouped by setting, all but the seed,
    with the spread over seeds of every loss and score column) and the figures of
    utils.spread_figures (each score per objective and against each swept hyperparameter, the
    scores' rank correlations) where the runs allow them; returns their paths."""
    setting_columns = [*RUN_COLUMNS, *hyperparameter_columns()]
    value_columns = [column for column in columns
                     if column != "name" and column not in setting_columns]
    spread_columns, spread_rows = spread.spread_table(rows, setting_columns, value_columns)
    base = os.path.join(results_dir, spread.OUTPUT_NAME)
    compact_columns, compact_rows = spread.mean_std_table(spread_rows)
    text = "\n\n".join([
        "# Spread over seeds",
        "## Mean ± standard deviation over seeds",
        "final_ columns in nats per image; scores as in summary.md. Runs: the seeds of the "
        "setting.",
        markdown_table(compact_columns, compact_rows),
        "## Every statistic",
        "One row per setting (runs that differ only in their seed): runs, then for each loss "
        "and score its number of values n, mean, sample standard deviation (empty for one "
        "value), median and 95% bootstrap interval of the mean (ci95_low, ci95_high; "
        "percentile method, 10,000 resamples of the seeds) over the runs.",
        markdown_table(spread_columns, spread_rows)]) + "\n"
    scores = [column for column in SCORE_COLUMNS if column not in RECIPE_COLUMNS]
    figures = [spread_figures.plot_by_objective(
                   rows, list(registered()), os.path.join(results_dir, BY_OBJECTIVE_FIGURE)),
               spread_figures.plot_by_hyperparameter(
                   spread_rows, {loss: list(symbols)
                                 for loss, symbols in loss_hyperparameters().items()},
                   os.path.join(results_dir, BY_HYPERPARAMETER_FIGURE)),
               spread_figures.plot_score_correlations(
                   rows, scores, os.path.join(results_dir, CORRELATIONS_FIGURE))]
    return [write_csv(spread_columns, spread_rows, base + ".csv"),
            write_text(text, base + ".md"), *[path for path in figures if path]]


def write_summary(results_dir):
    """Write summary.csv, summary.md and summary.png into results_dir, and the spread over
    seeds (write_spread); returns the paths of the first three and the number of runs."""
    columns, rows = summary_table(results_dir)
    base = os.path.join(results_dir, OUTPUT_NAME)
    paths = [write_csv(columns, rows, base + ".csv"), write_markdown(columns, rows, base + ".md"),
             plot_summary(rows, base + ".png")]
    write_spread(columns, rows, results_dir)
    return paths, len(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results-dir", default="results", help="folder of the run folders")
    parser.add_argument("--udr", action="store_true",
                        help=f"first score the runs of every setting trained with several seeds "
                             f"by UDR (Duan et al. 2020) into DIR/{UDR_FILE}")
    parser.add_argument("--udr-correlation", choices=("lasso", "spearman"), default="lasso",
                        help="UDR's similarity of latents (default: disentanglement_lib's lasso)")
    args = parser.parse_args(argv)
    try:
        if args.udr:
            from utils.udr_runs import write_udr
            path, n_scored = write_udr(args.results_dir, correlation=args.udr_correlation)
            print(f"UDR of {n_scored} run(s): {path}")
        paths, n_runs = write_summary(args.results_dir)
    except (SummaryError, *USER_ERRORS) as error:
        sys.exit(f"error: {error}")
    print(f"Summary of {n_runs} run(s): {', '.join(paths)}")
    print(f"Spread over seeds: {os.path.join(args.results_dir, spread.OUTPUT_NAME)}.csv, .md")


if __name__ == "__main__":
    main()
