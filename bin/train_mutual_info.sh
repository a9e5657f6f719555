#!/usr/bin/env bash
# Train beta-TCVAE with several weights alpha of its mutual-information term.
{ # the whole script is read before it runs: editing it cannot derail a run in progress
set -uo pipefail
source "$(dirname "$0")/common.sh"

USAGE="Usage: bin/train_mutual_info.sh [options] [-- main.py options]

Trains btcvae_<dataset>_a<alpha> with the preset -x btcvae_<dataset> and --btcvae-A <alpha>
for every alpha and dataset (default datasets: ${SWEEP_DATASETS[*]}). The GIFs of these runs
are tiled by bin/plot_all.sh into grid_posteriors_mutual_info.gif.

Options of this script:
      --alphas LIST      values of alpha, comma- or space-separated (default: ${SWEEP_ALPHAS[*]})"
LOSSES=(btcvae)
DATASETS=("${SWEEP_DATASETS[@]}")
ALPHAS=("${SWEEP_ALPHAS[@]}")

script_option() {
    case $1 in
        --alphas)
            (($# >= 2)) || die "$1 needs a value: see $0 --help"
            mapfile -t ALPHAS < <(split_list "$2")
            ((${#ALPHAS[@]})) || die "$1 needs at least one number"
            local alpha
            for alpha in "${ALPHAS[@]}"; do
                [[ $alpha =~ ^-?[0-9]+(\.[0-9]+)?$ ]] || die "$1 takes numbers, got '$alpha'"
            done
            CONSUMED=2 ;;
        *) return 1 ;;
    esac
}

parse_options "$@"
fixed -l "${LOSSES[*]}" btcvae "this script trains btcvae only"

for dataset in "${DATASETS[@]}"; do
    for alpha in "${ALPHAS[@]}"; do
        name="btcvae_${dataset}_a${alpha}${SUFFIX}"
        train_run "$name" "btcvae_${dataset}" --btcvae-A "$alpha"
    done
done
finish
exit
}
