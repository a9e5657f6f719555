"""The spread of results over seeds: the runs of a summary grouped by setting.

Locatello et al. (2019) showed that disentanglement scores vary across random seeds as much as
across objectives, so one run per objective ranks nothing. Runs that differ only in their seed
(same objective, hyperparameters, dataset and training options) form one setting; for each
value column of the summary (losses and scores) a setting gets the number of runs with a value
n, their mean, their sample standard deviation (n - 1 in the denominator; empty for n = 1),
their median and a 95% percentile bootstrap interval of the mean (Efron & Tibshirani 1993,
ch. 13: the 2.5% and 97.5% quantiles of the means of BOOTSTRAP_RESAMPLES resamples of the
seeds with replacement, seeded so that the table repeats; empty for n = 1). Written by
utils.summary beside summary.csv as summary_by_setting.csv and .md.
"""
import math
import re
import statistics

import numpy as np

OUTPUT_NAME = "summary_by_setting"
STATISTICS = ("n", "mean", "std", "median", "ci95_low", "ci95_high")
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
HEADLINE_COLUMNS = ("final_recon_loss", "final_kl_loss", "MIG", "MIG_without_shape", "AAM",
                    "FactorVAE", "BetaVAE", "DCI_disentanglement", "SAP", "IRS", "UDR")


def setting_key(row, setting_columns):
    return tuple(str(row.get(column)) for column in setting_columns)


def bootstrap_interval(values, level=0.95, resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED):
    """(low, high): the percentile bootstrap interval of the mean of values at `level`."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(len(values), size=(resamples, len(values)))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def spread(values):
    """{n, mean, std, median, ci95_low, ci95_high} of a list of numbers (None for what needs
    more values)."""
    n = len(values)
    low, high = bootstrap_interval(values) if n >= 2 else (None, None)
    return {"n": n,
            "mean": statistics.fmean(values) if n else None,
            "std": statistics.stdev(values) if n >= 2 else None,
            "median": statistics.median(values) if n else None,
            "ci95_low": low, "ci95_high": high}


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def spread_table(rows, setting_columns, value_columns):
    """(columns, rows) with one row per setting: its setting columns, its number of runs,
    and <column>_<statistic> for each value column that some run of the setting has."""
    groups = {}
    for row in rows:
        groups.setdefault(setting_key(row, setting_columns), []).append(row)
    table, present = [], []
    for members in groups.values():
        out = {column: members[0].get(column) for column in setting_columns}
        out["runs"] = len(members)
        out["run_names"] = " ".join(member["name"] for member in members)
        for column in value_columns:
            values = [member[column] for member in members if is_number(member.get(column))]
            if not values:
                continue
            if column not in present:
                present.append(column)
            out.update({f"{column}_{name}": value for name, value in spread(values).items()})
        table.append(out)
    columns = [*setting_columns, "runs",
               *[f"{column}_{name}" for column in value_columns if column in present
                 for name in STATISTICS], "run_names"]
    return columns, table


def setting_label(row):
    """A setting's name: its first run's name without the seed suffix (_s<seed>) that
    utils.sweep gives run names."""
    return re.sub(r"_s-?\d+$", "", row["run_names"].split()[0])


def significant_decimals(value, digits=3):
    """Decimals that show `digits` significant digits of value (3 decimals for 0)."""
    if not value:
        return 3
    return max(0, digits - 1 - math.floor(math.log10(abs(value))))


def mean_std(row, column):
    """'mean ± std' of a column of a setting: the mean to 3 significant digits and the std to
    the same decimals; 'mean' for one run; '' when no run has it."""
    mean, std = row.get(f"{column}_mean"), row.get(f"{column}_std")
    if mean is None:
        return ""
    decimals = significant_decimals(mean or std or 0)
    return f"{mean:.{decimals}f}" + (f" ± {std:.{decimals}f}" if std is not None else "")


def mean_std_table(setting_rows, columns=HEADLINE_COLUMNS):
    """(columns, rows) of the headline values of each setting as 'mean ± std' strings, for
    the columns some setting has: the compact table of summary_by_setting.md."""
    kept = [column for column in columns
            if any(row.get(f"{column}_mean") is not None for row in setting_rows)]
    rows = [{"setting": setting_label(row), "runs": row["runs"],
             **{column: mean_std(row, column) for column in kept}} for row in setting_rows]
    return ["setting", "runs", *kept], rows
