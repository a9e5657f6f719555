"""Time the sampled-entropy MIG on dSprites-sized inputs against the original toolkit's method.

    .venv/bin/python bench/bench_metrics.py                 # every part (~10 min, 2 idle cores)
    .venv/bin/python bench/bench_metrics.py --parts ours original

Inputs: 737,280 images (dSprites' factor grid 1 x 3 x 6 x 40 x 32 x 32), D = 10 latents with
realistic posteriors (six informative latents with log-variances around -5, four collapsed to
the prior), S = 10,000 Monte Carlo samples. Parts, each in its own process so that peak
memory (ru_maxrss) belongs to one part:

- ours: `disvae.metrics.mig_sampled` end to end (marginal + one pass per value of the five
  varying factors: about 4.4e11 Gaussian log-densities).
- original: the original toolkit's estimator (disvae/evaluate.py `_estimate_latent_entropies`,
  spec section 5), re-implemented for timing on posterior means: per call, 1,000 chunks of
  10 samples, each an (M x D x 10) log-density tensor over expanded means/log-variances and a
  logsumexp over M; called once for the marginal (M = N) and once per factor value (113 calls,
  M = N / |V_k|). It takes an hour or more, so a fixed number of chunks is timed for the
  marginal and for one value of each factor, and the total is extrapolated linearly in the
  number of chunks (1,000 per call, 114 calls).
- paired: both estimators' rates on the full-N marginal, alternated over a few rounds so a
  varying load hits both alike (the most robust ratio on a shared machine).
- dci: DCI at its recipe's sizes (10,000 training and 5,000 test points) on these posterior
  means, fitted with the project's boosted trees and with scikit-learn's
  GradientBoostingClassifier (same recipe, both in one worker process per core), with the
  largest differences of the importance matrix and the scores.
- all: `compute_all_metrics` at its default sizes (sampled MIG, discretised MIG, BetaVAE,
  FactorVAE, DCI, SAP, modularity/explicitness, IRS, unsupervised scores), with the time of
  each score.

Both timed estimators use torch's intra-op thread count (2 on the reference machine). The
machine is shared and noisy: compare the ratio of back-to-back runs, not absolute numbers.
"""
import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from disvae.metrics import (aggregate_posterior_entropy, compute_all_metrics,  # noqa: E402
                            dci, mig_sampled, mixture_kernel)
from disvae.metrics.suite import score_line  # noqa: E402
from disvae.utils.math import log_density_gaussian  # noqa: E402

FACTOR_SIZES = (1, 3, 6, 40, 32, 32)
FACTOR_NAMES = ["color", "shape", "scale", "orientation", "posX", "posY"]
N_LATENTS = 10
N_SAMPLES = 10000
ORIGINAL_CHUNK = 10  # samples per chunk in the original's loop


def dsprites_like_posteriors(seed=0):
    """(mean, logvar, factors) with dSprites' grid and plausible encoder statistics."""
    rng = np.random.default_rng(seed)
    factors = np.indices(FACTOR_SIZES).reshape(len(FACTOR_SIZES), -1).T.astype(np.int64)
    n = len(factors)
    unit = [(factors[:, k] / max(size - 1, 1)) * 2 - 1 for k, size in enumerate(FACTOR_SIZES)]
    angle = factors[:, 3] / FACTOR_SIZES[3] * 2 * math.pi
    signal = np.column_stack([unit[1], unit[2], np.cos(angle), np.sin(angle), unit[4], unit[5]])
    mean = np.empty((n, N_LATENTS), dtype=np.float32)
    logvar = np.empty((n, N_LATENTS), dtype=np.float32)
    mean[:, :6] = 1.5 * signal + rng.normal(0, 0.1, (n, 6))
    logvar[:, :6] = rng.normal(-5.0, 0.7, (n, 6))
    mean[:, 6:] = rng.normal(0, 0.03, (n, N_LATENTS - 6))
    logvar[:, 6:] = rng.normal(-0.02, 0.02, (n, N_LATENTS - 6))
    return mean, logvar, factors


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def sampled_mig_log_densities(factors, n_latents, n_samples):
    """Number of Gaussian log-densities mig_sampled evaluates (marginal + all subsets)."""
    total = len(factors) * min(n_samples, len(factors))
    for k in range(factors.shape[1]):
        counts = np.unique(factors[:, k], return_counts=True)[1]
        if len(counts) > 1:
            total += int(sum(c * min(n_samples, c) for c in counts))
    return total * n_latents


def part_ours(args):
    mean, logvar, factors = dsprites_like_posteriors()
    mixture_kernel.load_kernel()
    rss_inputs = current_rss_mb()
    start = time.perf_counter()
    result = mig_sampled(mean, logvar, factors, n_samples=args.n_samples, seed=0,
                         factor_names=FACTOR_NAMES, progress=args.progress)
    seconds = time.perf_counter() - start
    count = sampled_mig_log_densities(factors, N_LATENTS, args.n_samples)
    return {"seconds": seconds, "log_densities": count, "rate": count / seconds,
            "backend": "c" if mixture_kernel.load_kernel() else "torch",
            "mig": result["mig"], "mig_without_shape": result["mig_without_shape"],
            "aam": result["aam"], "rss_inputs_mb": rss_inputs, "peak_rss_mb": peak_rss_mb()}


def original_entropy_chunks(samples, mean, logvar, min_chunks, min_seconds=3.0):
    """The original's loop body, timed: returns (seconds per chunk, chunks timed).

    As in the original, the sample matrix is viewed as (D, S) and every tensor is expanded to
    (M, D, S); each chunk evaluates log N over (M, D, 10) and a logsumexp over M. After one
    warm-up chunk, at least `min_chunks` chunks and at least `min_seconds` are timed.
    """
    n_components, n_dims = mean.shape
    index = torch.randperm(n_components)[:N_SAMPLES]
    chosen = samples.index_select(0, index).view(n_dims, -1)  # the original's view
    chosen = chosen.unsqueeze(0).expand(n_components, n_dims, chosen.shape[1])
    mean_e = mean.unsqueeze(-1).expand(n_components, n_dims, chosen.shape[2])
    logvar_e = logvar.unsqueeze(-1).expand(n_components, n_dims, chosen.shape[2])
    entropies = torch.zeros(n_dims)

    def chunk(c):
        idx = slice(c * ORIGINAL_CHUNK, (c + 1) * ORIGINAL_CHUNK)
        log_q_zx = log_density_gaussian(chosen[..., idx], mean_e[..., idx], logvar_e[..., idx])
        log_q_z = torch.logsumexp(log_q_zx, dim=0) - math.log(n_components)
        entropies.add_(-log_q_z.sum(1))

    chunk(0)
    n_chunks, start = 0, time.perf_counter()
    while n_chunks < N_SAMPLES // ORIGINAL_CHUNK - 1 and (
            n_chunks < min_chunks or time.perf_counter() - start < min_seconds):
        n_chunks += 1
        chunk(n_chunks)
    return (time.perf_counter() - start) / n_chunks, n_chunks


def part_original(args):
    mean, logvar, factors = dsprites_like_posteriors()
    mean_t, logvar_t = torch.from_numpy(mean), torch.from_numpy(logvar)
    chunks_per_call = N_SAMPLES // ORIGINAL_CHUNK
    seconds_per_chunk, timed = {}, {}
    seconds_per_chunk["marginal"], timed["marginal"] = original_entropy_chunks(
        mean_t, mean_t, logvar_t, args.original_chunks)
    total = chunks_per_call * seconds_per_chunk["marginal"]
    n_calls = 1
    for k, name in enumerate(FACTOR_NAMES):
        if FACTOR_SIZES[k] == 1:
            continue
        rows = torch.from_numpy(np.flatnonzero(factors[:, k] == 0))
        seconds_per_chunk[name], timed[name] = original_entropy_chunks(
            mean_t[rows], mean_t[rows], logvar_t[rows], args.original_chunks)
        total += FACTOR_SIZES[k] * chunks_per_call * seconds_per_chunk[name]
        n_calls += FACTOR_SIZES[k]
    count = sampled_mig_log_densities(factors, N_LATENTS, N_SAMPLES)
    return {"seconds_extrapolated": total, "timed_chunks": timed,
            "chunks_per_call": chunks_per_call, "calls": n_calls,
            "seconds_per_chunk": seconds_per_chunk, "log_densities": count,
            "rate": count / total, "peak_rss_mb": peak_rss_mb()}


def part_all(args):
    mean, logvar, factors = dsprites_like_posteriors()
    start = time.perf_counter()
    record = compute_all_metrics(mean, logvar, factors, FACTOR_NAMES, seed=0,
                                 progress=args.progress)
    seconds = time.perf_counter() - start
    per_score = {key: value["recipe"]["elapsed_s"] for key, value in record.items()
                 if isinstance(value, dict) and "recipe" in value}
    return {"seconds": seconds, "per_score_seconds": per_score, "scores": score_line(record),
            "peak_rss_mb": peak_rss_mb()}


def sklearn_fit_factor(column, train_x, train_y, test_x, test_y, n_estimators, seed):
    """dci's per-factor fit with scikit-learn's GradientBoostingClassifier (the reference)."""
    from sklearn.ensemble import GradientBoostingClassifier
    model = GradientBoostingClassifier(n_estimators=n_estimators, random_state=seed)
    model.fit(train_x, train_y)
    return (column, np.abs(model.feature_importances_),
            np.mean(model.predict(train_x) == train_y), np.mean(model.predict(test_x) == test_y))


def part_dci(args):
    """DCI with the project's boosted trees, then with scikit-learn's, on the same points."""
    mean, _, factors = dsprites_like_posteriors()
    dci_module = sys.modules[dci.__module__]
    results, seconds = {}, {}
    for name, fit in (("ours", dci_module._fit_factor), ("sklearn", sklearn_fit_factor)):
        dci_module._fit_factor = fit
        start = time.perf_counter()
        results[name] = dci(mean, factors, seed=0)
        seconds[name] = time.perf_counter() - start
    scores = ("disentanglement", "completeness", "informativeness_train", "informativeness_test")
    return {"seconds": seconds, "ratio": seconds["sklearn"] / seconds["ours"],
            "scores": {name: {key: r[key] for key in scores} for name, r in results.items()},
            "max_abs_importance_difference": float(np.abs(
                results["ours"]["importance_matrix"]
                - results["sklearn"]["importance_matrix"]).max()),
            "max_abs_score_difference": max(abs(results["ours"][key] - results["sklearn"][key])
                                            for key in scores)}


def part_paired(args):
    """Rates of both estimators on the full-N marginal, alternated in rounds, so that a
    varying load on a shared machine hits both alike (ratio of medians)."""
    mean, logvar, _ = dsprites_like_posteriors()
    rng = np.random.default_rng(0)
    samples = rng.choice(len(mean), 400, replace=False)
    mean_t, logvar_t = torch.from_numpy(mean), torch.from_numpy(logvar)
    mixture_kernel.load_kernel()
    ours, original = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        aggregate_posterior_entropy(mean, logvar, mean, samples)
        ours.append(len(mean) * len(samples) * N_LATENTS / (time.perf_counter() - start))
        seconds, _ = original_entropy_chunks(mean_t, mean_t, logvar_t, 2, min_seconds=0.0)
        original.append(len(mean) * ORIGINAL_CHUNK * N_LATENTS / seconds)
    return {"rate_ours": float(np.median(ours)), "rate_original": float(np.median(original)),
            "ratio": float(np.median(ours) / np.median(original)), "rounds": args.rounds}


PARTS = {"ours": part_ours, "original": part_original, "all": part_all, "paired": part_paired,
         "dci": part_dci}


def run_part(name, args):
    command = [sys.executable, __file__, "--part", name, "--n-samples", str(args.n_samples),
               "--original-chunks", str(args.original_chunks), "--rounds", str(args.rounds)]
    if args.progress:
        command.append("--progress")
    load_before = os.getloadavg()[0]
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    result["load_average_1min"] = [load_before, os.getloadavg()[0]]  # other processes' share
    return result


def report(results, args):
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"N = {int(np.prod(FACTOR_SIZES))}, D = {N_LATENTS}, S = {args.n_samples}; "
          "1-min load average before/after each part: "
          + ", ".join(f"{k} {v['load_average_1min'][0]:.1f}/{v['load_average_1min'][1]:.1f}"
                      for k, v in results.items()))
    ours, original = results.get("ours"), results.get("original")
    if ours:
        print(f"mig_sampled ({ours['backend']} backend): {ours['seconds']:.1f} s for "
              f"{ours['log_densities']:.3g} log-densities = {ours['rate']:.3g} /s; "
              f"peak RSS {ours['peak_rss_mb']:.0f} MB (inputs alone {ours['rss_inputs_mb']:.0f} "
              f"MB); MIG {ours['mig']:.3f}, without shape {ours['mig_without_shape']:.3f}, "
              f"AAM {ours['aam']:.3f}")
    if original:
        per_chunk = ", ".join(f"{k} {v:.3f} s" for k, v in original["seconds_per_chunk"].items())
        print(f"original method: {original['seconds_extrapolated']:.0f} s = "
              f"{original['seconds_extrapolated'] / 60:.1f} min, EXTRAPOLATED linearly from "
              f"timed chunks {original['timed_chunks']} (one call per size; "
              f"{original['chunks_per_call']} chunks per call, {original['calls']} calls); "
              f"per chunk: {per_chunk}; {original['rate']:.3g} log-densities/s; "
              f"peak RSS {original['peak_rss_mb']:.0f} MB")
    if ours and original:
        print(f"speed-up: {original['seconds_extrapolated'] / ours['seconds']:.1f}x")
    if "paired" in results:
        paired = results["paired"]
        print(f"paired rounds (full-N marginal, alternated, medians of {paired['rounds']}): "
              f"ours {paired['rate_ours']:.3g} /s, original {paired['rate_original']:.3g} /s, "
              f"ratio {paired['ratio']:.1f}x")
    if "dci" in results:
        fits = results["dci"]
        print(f"DCI (10,000 / 5,000 points): ours {fits['seconds']['ours']:.1f} s, scikit-learn "
              f"{fits['seconds']['sklearn']:.1f} s, ratio {fits['ratio']:.1f}x; largest "
              f"difference: importance {fits['max_abs_importance_difference']:.2g}, scores "
              f"{fits['max_abs_score_difference']:.2g}; scores {json.dumps(fits['scores'])}")
    if "all" in results:
        everything = results["all"]
        per_score = ", ".join(f"{k} {v:.1f} s" for k, v in everything["per_score_seconds"].items())
        print(f"compute_all_metrics: {everything['seconds']:.1f} s ({per_score}); peak RSS "
              f"{everything['peak_rss_mb']:.0f} MB")
        print("scores: " + everything["scores"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=list(PARTS),
                        default=["paired", "ours", "original", "all"])
    parser.add_argument("--part", choices=list(PARTS), help=argparse.SUPPRESS)
    parser.add_argument("--n-samples", type=int, default=N_SAMPLES)
    parser.add_argument("--original-chunks", type=int, default=5,
                        help="least number of chunks of the original's loop timed per call "
                             "size (and at least 3 s)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the paired part")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    if args.part:
        print(json.dumps(PARTS[args.part](args)))
        return
    results = {}
    for name in args.parts:
        results[name] = run_part(name, args)
        print(f"[{name}] {json.dumps(results[name])}", flush=True)
    report(results, args)


if __name__ == "__main__":
    main()
