#!/usr/bin/env bash
# Train every loss on every dataset with its preset, then the authors' best settings.
{ # the whole script is read before it runs: editing it cannot derail a run in progress
set -uo pipefail
source "$(dirname "$0")/common.sh"

USAGE="Usage: bin/train_all.sh [options] [-- main.py options]

Trains <loss>_<dataset> with the preset -x <loss>_<dataset> for every loss and dataset, then
best_celeba and best_dsprites (the beta-TCVAE settings of the original authors) when their
dataset is chosen. Example: bin/train_all.sh -d dsprites -j 2 -- --max-steps 1000

Options of this script:
      --no-best          skip best_celeba and best_dsprites"
WITH_BEST=1

script_option() {
    case $1 in
        --no-best) WITH_BEST=0 CONSUMED=1 ;;
        *) return 1 ;;
    esac
}

parse_options "$@"

for loss in "${LOSSES[@]}"; do
    for dataset in "${DATASETS[@]}"; do
        train_run "${loss}_${dataset}${SUFFIX}" "${loss}_${dataset}"
    done
done
if ((WITH_BEST)); then
    for preset in $(chosen_best_presets); do
        train_run "$preset$SUFFIX" "$preset"
    done
fi
finish
exit
}
