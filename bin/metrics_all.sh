#!/usr/bin/env bash
# Compute the disentanglement metrics of every trained run of every loss.
{ # the whole script is read before it runs: editing it cannot derail a run in progress
set -uo pipefail
source "$(dirname "$0")/common.sh"

USAGE="Usage: bin/metrics_all.sh [options] [-- main.py options]

Computes metrics.log of <loss>_<dataset> for every loss and dataset with
main.py <run> --is-eval-only --is-metrics --no-test (default dataset: dsprites, as the metrics
need ground-truth factors). Runs without a trained model are skipped. Each command encodes the
whole dataset (737,280 images for dSprites) and holds it in memory: mind -j."
DATASETS=(dsprites)

parse_options "$@"

for loss in "${LOSSES[@]}"; do
    for dataset in "${DATASETS[@]}"; do
        name="${loss}_${dataset}${SUFFIX}"
        if run_exists "$name"; then
            run_job "$name" "$RESULTS_DIR/logs/metrics/$name.log" \
                "$PYTHON" main.py "$name" --is-eval-only --is-metrics --no-test \
                --no-progress-bar "${FOLDER_OPTIONS[@]}" "${EXTRA[@]}"
        else
            skip_missing "$name"
        fi
    done
done
finish
exit
}
