#!/usr/bin/env bash
# The comparison of the five losses on procedural dSprites, sized for a 2-core CPU.
{ # the whole script is read before it runs: editing it cannot derail a run in progress
set -uo pipefail
source "$(dirname "$0")/common.sh"

# Sizes measured on the shared 2-core machine (load 3-5), one torch thread per command:
# training about 0.21 s per step (0.31 s for FactorVAE), so 3,500 steps of the five losses on
# two cores take about 40 min; the metrics of one run about 3 min with the CPU recipe below
# (about 20 min on all images with 100 trees, mostly DCI's trees and the encoding); plots
# about 1 min per run. On an idle 2-core AMD Zen 5 a run's 3,500 steps take about 3 min.
DEFAULT_STEPS=3500
CPU_METRICS_IMAGES=100000
CPU_DCI_TREES=10
USAGE="Usage: bin/reproduce_cpu.sh [options] [-- main.py options]

Compares the five losses on procedural dSprites in about an hour on 2 CPU cores:
1. trains <loss>_dsprites_cpu with the preset -x <loss>_dsprites for --steps steps each,
   two at a time with one torch thread each, without test losses (dSprites has no held-out
   images, and a pass over all of them would cost as much as the metrics' encoding);
2. computes their metrics (bin/metrics_all.sh) with a CPU recipe: on a random subset of
   $CPU_METRICS_IMAGES of the 737,280 images and with $CPU_DCI_TREES boosted trees per factor in DCI
   (--full-metrics: all images and 100 trees, about 20 min more per run);
3. plots them (bin/plot_all.sh: gif-traversals, all, DIR/grid_posteriors.gif);
4. writes DIR/summary.csv, summary.md and summary.png (python -m utils.summary), where the
   columns metric_images and DCI_trees record the recipe.
The presets anneal their regulariser over a number of steps (reg_anneal) meant for their full
length of 30 epochs (345,600 steps); a short run would stop long before the end of the
annealing (beta-VAE_B's capacity would reach a few nats of its 25). So each run's reg_anneal
is scaled by steps / 345,600, which keeps each preset's schedule, compressed (--anneal preset
keeps the presets' values). Options after -- go to main.py (training and metrics); those of
them that main_viz.py takes too (--data-dir, --no-cuda) also go to the plots.

Options of this script:
      --steps N          training steps per run (default: $DEFAULT_STEPS; a FactorVAE step takes
                         1.5 times as long: half of each doubled batch trains its discriminator)
      --anneal MODE      scaled (default) or preset
      --full-metrics     score all images with the metrics' full recipe"
STEPS=$DEFAULT_STEPS
ANNEAL=scaled
METRIC_OPTIONS=(--metrics-images "$CPU_METRICS_IMAGES" --dci-trees "$CPU_DCI_TREES")
DATASETS=(dsprites)
SUFFIX=_cpu

script_option() {
    case $1 in
        --steps | --anneal) (($# >= 2)) || die "$1 needs a value: see $0 --help" ;;&
        --steps)
            [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, got '$2'"
            STEPS=$2 CONSUMED=2 ;;
        --anneal)
            [[ $2 == scaled || $2 == preset ]] || die "$1 must be scaled or preset, got '$2'"
            ANNEAL=$2 CONSUMED=2 ;;
        --full-metrics) METRIC_OPTIONS=() CONSUMED=1 ;;
        *) return 1 ;;
    esac
}

parse_options "$@"
fixed -d "${DATASETS[*]}" dsprites "this comparison is on dSprites, whose factors the metrics need"

# "<preset> <reg_anneal>" lines: each preset's reg_anneal (hyperparam.ini, or the file named by
# $DISVAE_CONFIG as for main.py), scaled to STEPS (utils/anneal.py) or as the preset has it.
anneal_steps() {
    local presets=("${LOSSES[@]/%/_dsprites}")
    if [[ $ANNEAL == scaled ]]; then
        "$PYTHON" -m utils.anneal "$STEPS" "${presets[@]}"
    else
        printf '%s preset\n' "${presets[@]}"
    fi
}

stage_times=()
failed_stages=()
start_stage() {
    STAGE=$1 STAGE_START=$SECONDS N_FAILED=${#FAILED[@]}
    ((DRY_RUN)) || echo "== $STAGE"
}
end_stage() {  # end_stage [exit status of a script of bin/ run as the stage]
    stage_times+=("$STAGE $((SECONDS - STAGE_START)) s")
    ((${1:-0} == 0 && ${#FAILED[@]} == N_FAILED)) || failed_stages+=("$STAGE")
}

folder=()
[[ $RESULTS_DIR == results ]] || folder=(-r "$RESULTS_DIR")
dry=()
((DRY_RUN)) && dry=(-n)
viz_extra=()  # the options after -- that main_viz.py takes too
for ((i = 0; i < ${#EXTRA[@]}; i++)); do
    case ${EXTRA[i]} in
        --data-dir) viz_extra+=("${EXTRA[@]:i:2}") ;;
        --data-dir=* | --no-cuda) viz_extra+=("${EXTRA[i]}") ;;
    esac
done
common=(-l "${LOSSES[*]}" -d dsprites --suffix "$SUFFIX" -j "$JOBS" "${folder[@]}" "${dry[@]}")

if ((!DRY_RUN)); then  # never retrain over a run, such as the shipped ones under results/
    for loss in "${LOSSES[@]}"; do
        run_dir="$RESULTS_DIR/${loss}_dsprites${SUFFIX}"
        [[ ! -e $run_dir ]] || die "$run_dir exists: reproduce into another folder with" \
            "-r DIR (or --suffix TEXT), or move it away first"
    done
fi

start_stage training
anneals=$(anneal_steps) || exit 2
while read -r preset anneal; do
    anneal_option=()
    [[ $anneal == preset ]] || anneal_option=(--reg-anneal "$anneal")
    train_run "${preset}${SUFFIX}" "$preset" --max-steps "$STEPS" "${anneal_option[@]}" --no-test
done <<<"$anneals"
wait_all
end_stage
start_stage metrics
run_foreground bin/metrics_all.sh "${common[@]}" -- "${METRIC_OPTIONS[@]}" "${EXTRA[@]}"
end_stage $?
start_stage plots
run_foreground bin/plot_all.sh "${common[@]}" --no-best --no-sweep -- "${viz_extra[@]}"
end_stage $?
start_stage summary
run_job summary "$RESULTS_DIR/logs/summary.log" "$PYTHON" -m utils.summary \
    --results-dir "$RESULTS_DIR"
wait_all
end_stage
((DRY_RUN)) && exit 0
echo "Times: $(printf '%s, ' "${stage_times[@]}" | sed 's/, $//')"
if ((${#failed_stages[@]})); then
    echo "error: stage(s) with failed commands: ${failed_stages[*]} (see $RESULTS_DIR/logs/)" >&2
    exit 1
fi
echo "Summary: $RESULTS_DIR/summary.md, summary.csv, summary.png"
exit
}
