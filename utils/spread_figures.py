"""Figures of results over seeds, written beside summary.csv by utils.summary.

- summary_by_objective.png: for each headline score, one box per objective over its runs,
  each run a point on it, so that the spread across seeds is seen next to the differences
  between objectives (Locatello et al. 2019, figure 6 style).
- scores_by_hyperparameter.png: for each hyperparameter an objective was swept over (two
  values or more), each score's mean over the seeds against the value, with its 95% bootstrap
  interval (utils/spread.py): whether a trend stands out of the seed noise.
- metric_correlations.png: the Spearman rank correlation between the scores across all runs
  (Locatello et al. 2019, figure 2 style): which scores agree on what is disentangled.
"""
import numpy as np
from matplotlib.figure import Figure

from utils.viz_helpers import save_figure

BY_OBJECTIVE_SCORES = ("MIG", "FactorVAE", "DCI_disentanglement", "SAP", "IRS", "BetaVAE")


def values_by_objective(rows, score, objectives):
    """{objective: [values of its runs]} for the runs that have a number for score."""
    values = {}
    for objective in objectives:
        found = [row[score] for row in rows if row.get("loss") == objective
                 and isinstance(row.get(score), (int, float)) and np.isfinite(row[score])]
        if found:
            values[objective] = found
    return values


def plot_by_objective(rows, objectives, path, scores=BY_OBJECTIVE_SCORES):
    """summary_by_objective.png; None when no run has any of the scores."""
    panels = [(score, values_by_objective(rows, score, objectives)) for score in scores]
    panels = [(score, values) for score, values in panels if values]
    if not panels:
        return None
    figure = Figure(figsize=(3.2 * len(panels), 4.2), layout="constrained")
    for ax, (score, values) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
        names = list(values)
        # no fliers: every run is drawn as a point
        ax.boxplot([values[name] for name in names], widths=0.5, showfliers=False)
        for position, name in enumerate(names, start=1):
            jitter = np.linspace(-0.12, 0.12, len(values[name])) if len(values[name]) > 1 else [0]
            ax.plot(position + np.asarray(jitter), values[name], "o", color="C0", alpha=0.7)
        ax.set_xticks(range(1, len(names) + 1), names, rotation=30)
        ax.set_title(score)
        ax.set_xlabel("objective")
        ax.set_ylabel(f"{score} (one point per run)")
    return save_figure(figure, path)


def swept_hyperparameters(setting_rows, symbols_by_loss):
    """[(loss, symbol)] of the hyperparameters taking two numeric values or more over the
    settings (utils.spread.spread_table rows) of their objective."""
    swept = []
    for loss, symbols in symbols_by_loss.items():
        for symbol in symbols:
            values = {row[symbol] for row in setting_rows
                      if row.get("loss") == loss and isinstance(row.get(symbol), (int, float))}
            if len(values) >= 2:
                swept.append((loss, symbol))
    return swept


def plot_by_hyperparameter(setting_rows, symbols_by_loss, path, scores=BY_OBJECTIVE_SCORES):
    """scores_by_hyperparameter.png: one row of panels per swept (objective, hyperparameter),
    one panel per score; the settings that differ in other columns (another hyperparameter,
    dataset) are separate lines. None when nothing was swept or no setting has a score."""
    swept = swept_hyperparameters(setting_rows, symbols_by_loss)
    scores = [score for score in scores
              if any(row.get(f"{score}_mean") is not None for row in setting_rows)]
    if not swept or not scores:
        return None
    figure = Figure(figsize=(max(3.4 * len(scores), 5.5), 3.2 * len(swept)), layout="constrained")
    axes = figure.subplots(len(swept), len(scores), squeeze=False)
    for (loss, symbol), row_axes in zip(swept, axes):
        settings = [row for row in setting_rows if row.get("loss") == loss
                    and isinstance(row.get(symbol), (int, float))]
        others = [column for column in symbols_by_loss[loss] + ["dataset"] if column != symbol
                  and len({str(row.get(column)) for row in settings}) > 1]
        lines = {}
        for row in settings:
            lines.setdefault(tuple(row.get(column) for column in others), []).append(row)
        positive = all(row[symbol] > 0 for row in settings)
        span = max(row[symbol] for row in settings) / min(row[symbol] for row in settings) \
            if positive else 1
        for ax, score in zip(row_axes, scores):
            for key, members in lines.items():
                members = sorted((row for row in members if row.get(f"{score}_mean") is not None),
                                 key=lambda row: row[symbol])
                if not members:
                    continue
                x = [row[symbol] for row in members]
                mean = np.array([row[f"{score}_mean"] for row in members], dtype=float)
                low = np.array([row.get(f"{score}_ci95_low", np.nan) for row in members],
                               dtype=float)
                high = np.array([row.get(f"{score}_ci95_high", np.nan) for row in members],
                                dtype=float)
                # one seed: no interval (NaN draws no bar)
                label = ", ".join(f"{column}={value}" for column, value in zip(others, key))
                ax.errorbar(x, mean, yerr=[mean - low, high - mean], marker="o", capsize=3,
                            label=label or None)
            if span >= 10:
                ax.set_xscale("log")
            ticks = sorted({row[symbol] for row in settings})
            ax.set_xticks(ticks, [f"{tick:g}" for tick in ticks], minor=False)
            ax.minorticks_off()
            ax.set_xlabel(f"{loss} {symbol}")
            ax.set_ylabel(f"{score} (mean over seeds)")
            ax.set_title(f"{score} against {loss} {symbol}")
            ax.grid(alpha=0.3)
            if others:
                ax.legend(fontsize="small")
    figure.suptitle("Mean over seeds with its 95% bootstrap interval")
    return save_figure(figure, path)


def score_correlations(rows, scores):
    """(scores kept, Spearman matrix) over the runs that have every kept score; a score is
    kept when at least three runs have it and it is not constant over them."""
    kept = [score for score in scores
            if len({row[score] for row in rows if isinstance(row.get(score), (int, float))
                    and np.isfinite(row[score])}) >= 2
            and sum(isinstance(row.get(score), (int, float)) for row in rows) >= 3]
    complete = [row for row in rows
                if all(isinstance(row.get(score), (int, float)) and np.isfinite(row[score])
                       for score in kept)]
    if len(kept) < 2 or len(complete) < 3:
        return kept, None
    from scipy import stats  # here, not at the top: the summary's import stays under 1 s
    table = np.array([[row[score] for score in kept] for row in complete], dtype=float)
    matrix = stats.spearmanr(table).statistic
    if np.ndim(matrix) == 0:  # two scores: spearmanr gives their one coefficient
        matrix = np.array([[1.0, matrix], [matrix, 1.0]])
    return kept, matrix


def plot_score_correlations(rows, scores, path):
    """metric_correlations.png; None when fewer than two scores or three runs allow it."""
    kept, matrix = score_correlations(rows, scores)
    if matrix is None:
        return None
    figure = Figure(figsize=(0.55 * len(kept) + 3.5, 0.5 * len(kept) + 2.5),
                    layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(kept)), kept, rotation=60, ha="right")
    ax.set_yticks(range(len(kept)), kept)
    for (row, col), value in np.ndenumerate(matrix):
        ax.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=8,
                color="white" if abs(value) > 0.6 else "black")
    figure.colorbar(image, ax=ax, label="Spearman rank correlation across runs")
    ax.set_title("Agreement of the scores across runs")
    return save_figure(figure, path)
