#!/usr/bin/env bash
# Plot every trained run of every loss, and tile their traversal GIFs into grids.
{ # the whole script is read before it runs: editing it cannot derail a run in progress
set -uo pipefail
source "$(dirname "$0")/common.sh"

USAGE="Usage: bin/plot_all.sh [options] [-- main_viz.py options]

As the original toolkit's plot_all.sh, for the runs <loss>_<dataset> that exist:
1. gif-traversals of 3 images (-s 1234 -c 3 -r 5 -t 2, MNIST enlarged with -u 2) of every
   run, tiled into DIR/grid_posteriors.gif (rows: losses, columns: datasets);
2. every plot ('all', -s 1234 -c 10 -r 10 -t 2 --is-show-loss --is-posterior) of every run
   and of best_celeba / best_dsprites; its 10-image GIF replaces the 3-image one of step 1;
3. gif-traversals of the alpha sweep of bin/train_mutual_info.sh (btcvae_<dataset>_a<alpha>,
   datasets ${SWEEP_DATASETS[*]}), tiled into DIR/grid_posteriors_mutual_info.gif (rows: alphas).
The images shown first (-i) are the original's for each dataset: for dSprites one square, one
ellipse and one heart; for MNIST ten digits; for CelebA those of 1Konny/FactorVAE.

Options of this script:
      --no-best          skip best_celeba and best_dsprites
      --no-sweep         skip step 3"
WITH_BEST=1
WITH_SWEEP=1

script_option() {
    case $1 in
        --no-best) WITH_BEST=0 CONSUMED=1 ;;
        --no-sweep) WITH_SWEEP=0 CONSUMED=1 ;;
        *) return 1 ;;
    esac
}

# Dataset indices shown first. dSprites, in the order of its official factor grid (shape
# varies slowest after colour: 245,760 images per shape): a square, an ellipse, a heart.
declare -A CHERRY_INDICES=(
    [dsprites]="92595 339150 656090"
    [mnist]="1 40 25 7 92 41001 90 41002 823 41219"
    [celeba]="32260 191281 143307 101535 70059 88413 87889 176606 131612 179144"
    [chairs]="40919 5172 22330"
)
GIF_OPTIONS=(-s 1234 -c 3 -r 5 -t 2)
ALL_OPTIONS=(-s 1234 -c 10 -r 10 -t 2 --is-show-loss --is-posterior)

parse_options "$@"

# plot RUN DATASET STAGE main_viz.py-arguments...: plot a run if it exists.
plot() {
    local name=$1 dataset=$2 stage=$3
    shift 3
    if ! run_exists "$name"; then
        skip_missing "$name"
        return
    fi
    local cherries=()
    [[ -n ${CHERRY_INDICES[$dataset]:-} ]] && cherries=(-i ${CHERRY_INDICES[$dataset]})
    run_job "$name $stage" "$RESULTS_DIR/logs/$stage/$name.log" \
        "$PYTHON" main_viz.py "$name" "$@" "${cherries[@]}" "${FOLDER_OPTIONS[@]}" "${EXTRA[@]}"
}

# gif_traversals RUN DATASET: the 3-image GIF of a run.
gif_traversals() {
    local upsample=()
    [[ $2 == mnist ]] && upsample=(-u 2)
    plot "$1" "$2" plot-gif gif-traversals "${GIF_OPTIONS[@]}" "${upsample[@]}"
}

# tile_gifs OUTPUT "ROW LABELS" "COLUMN LABELS" RUN...: the posterior-traversal GIFs of the
# runs in one GIF, a row per row label and a column per column label, both named in it.
tile_gifs() {
    local output=$1 rows columns gifs=() name any=$DRY_RUN
    read -ra rows <<< "$2"
    read -ra columns <<< "$3"
    shift 3
    wait_all
    for name in "$@"; do
        gifs+=("$RESULTS_DIR/$name/posterior_traversals.gif")
        [[ -f ${gifs[-1]} ]] && any=1
    done
    if ((!any)); then
        echo "skip: no GIF to tile into $output"
        return
    fi
    run_job "$(basename "$output")" "$RESULTS_DIR/logs/plot-grid/$(basename "$output" .gif).log" \
        "$PYTHON" -m utils.gif_grid "$output" --columns "${#columns[@]}" "${gifs[@]}" \
        --row-labels "${rows[@]}" --column-labels "${columns[@]}"
    wait_all
}

grid_runs=()
for loss in "${LOSSES[@]}"; do
    for dataset in "${DATASETS[@]}"; do
        gif_traversals "${loss}_${dataset}${SUFFIX}" "$dataset"
        grid_runs+=("${loss}_${dataset}${SUFFIX}")
    done
done
tile_gifs "$RESULTS_DIR/grid_posteriors.gif" "${LOSSES[*]}" "${DATASETS[*]}" "${grid_runs[@]}"

for loss in "${LOSSES[@]}"; do
    for dataset in "${DATASETS[@]}"; do
        plot "${loss}_${dataset}${SUFFIX}" "$dataset" plot all "${ALL_OPTIONS[@]}"
    done
done
if ((WITH_BEST)); then
    for preset in $(chosen_best_presets); do
        plot "$preset$SUFFIX" "${preset#best_}" plot all "${ALL_OPTIONS[@]}"
    done
fi

if ((WITH_SWEEP)); then
    sweep_datasets=() sweep_runs=()
    for dataset in "${SWEEP_DATASETS[@]}"; do
        contains "$dataset" "${DATASETS[@]}" && sweep_datasets+=("$dataset")
    done
    if ((${#sweep_datasets[@]})); then
        for alpha in "${SWEEP_ALPHAS[@]}"; do
            for dataset in "${sweep_datasets[@]}"; do
                gif_traversals "btcvae_${dataset}_a${alpha}${SUFFIX}" "$dataset"
                sweep_runs+=("btcvae_${dataset}_a${alpha}${SUFFIX}")
            done
        done
        alphas=()
        for alpha in "${SWEEP_ALPHAS[@]}"; do alphas+=("alpha=$alpha"); done
        tile_gifs "$RESULTS_DIR/grid_posteriors_mutual_info.gif" "${alphas[*]}" \
            "${sweep_datasets[*]}" "${sweep_runs[@]}"
    fi
fi
finish
exit
}
