# Shared by the batch scripts of bin/ (sourced, not run): their common options, the Python
# they run, and the pool of utils/launchers.py that runs their commands N at a time with one
# log file per command.
#
# A script sets USAGE (its help text) and may define `script_option` to read its own options
# (it sets CONSUMED to the number of words it used, or returns 1 for an unknown option), then
# calls `parse_options "$@"`. Commands go through `run_job NAME LOG COMMAND...`; the script
# ends with `finish`.

# The losses trained by default: the five objectives of the original toolkit's comparison.
# Any registered objective may be chosen with -l (ALL_LOSSES, read below).
DEFAULT_LOSSES=(VAE betaH betaB factor btcvae)
ALL_DATASETS=(dsprites celeba chairs mnist)
# The original authors' best settings (sections of hyperparam.ini), one per dataset
BEST_PRESETS=(best_celeba best_dsprites)
# The beta-TCVAE sweep of the MI weight alpha (bin/train_mutual_info.sh, bin/plot_all.sh)
SWEEP_DATASETS=(dsprites celeba)
SWEEP_ALPHAS=(-5 -1 0 1 5)

# The pool (and every command) runs in its own process group (job control), so that Ctrl-C
# reaches only this script, whose trap passes one SIGTERM to the pool, which stops each
# command once (a second signal would make main.py exit at once, without its checkpoint).
set -m

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CALLER_DIR=$PWD
cd "$REPO_ROOT"

LOSSES=("${DEFAULT_LOSSES[@]}")
DATASETS=("${ALL_DATASETS[@]}")
JOBS=$(nproc)
DRY_RUN=0
RESULTS_DIR=results
SUFFIX=""
EXTRA=()
if [[ -x .venv/bin/python ]]; then TOOLKIT_PYTHON=.venv/bin/python; else TOOLKIT_PYTHON=python3; fi
PYTHON=${PYTHON:-$TOOLKIT_PYTHON}

# Every registered objective (disvae/objectives, and the modules of $DISVAE_OBJECTIVES), read
# from their declarations by the toolkit's interpreter (the default of $PYTHON).
if ! OBJECTIVE_NAMES=$("$TOOLKIT_PYTHON" -m disvae.objectives); then
    echo "error: cannot list the objectives with $TOOLKIT_PYTHON -m disvae.objectives" >&2
    exit 2
fi
mapfile -t ALL_LOSSES <<<"$OBJECTIVE_NAMES"

die() {
    echo "error: $*" >&2
    exit 2
}

usage() {
    cat <<EOF
$USAGE

Common options:
  -l, --losses LIST      losses, comma- or space-separated (default: ${LOSSES[*]};
                         registered: ${ALL_LOSSES[*]})
  -d, --datasets LIST    datasets, comma- or space-separated (default: ${DATASETS[*]})
  -j, --jobs N           commands run at the same time (default: $JOBS; this machine has
                         $(nproc) cores); each gets cores/N torch threads (OMP_NUM_THREADS,
                         unless already set)
  -r, --results-dir DIR  folder of the run folders (default: $RESULTS_DIR)
      --suffix TEXT      appended to every run name (e.g. _cpu: VAE_dsprites_cpu)
  -n, --dry-run          print the commands instead of running them (as if every run existed)
  -h, --help             this help
  -- OPTIONS...          passed on to every main.py / main_viz.py command
Commands run from the repository root with \$PYTHON (default: .venv/bin/python if present,
else python3), each writing its output to DIR/logs/<stage>/<run>.log.
EOF
}

# The words of a comma- or space-separated list, one per line.
split_list() {
    tr ', ' '\n\n' <<<"$1" | sed '/^$/d'
}

# Check that every word of a list option is one of the allowed ones.
check_choices() {
    local option=$1 allowed=$2 word
    shift 2
    (($#)) || die "$option needs at least one name: choose from $allowed"
    for word in "$@"; do
        [[ " $allowed " == *" $word "* ]] || die "unknown name '$word' for $option: choose from $allowed"
    done
}

# Datasets with presets in hyperparam.ini (a [Common_<dataset>] section), losses excluded.
preset_datasets() {
    sed -n 's/^\[Common_\(.*\)\]$/\1/p' hyperparam.ini |
        grep -vxF -f <(printf '%s\n' "${ALL_LOSSES[@]}") | paste -sd ' '
}

parse_options() {
    while (($#)); do
        case $1 in
            -l | --losses | -d | --datasets | -j | --jobs | -r | --results-dir | --suffix)
                (($# >= 2)) || die "$1 needs a value: see $0 --help" ;;&
            -l | --losses)
                mapfile -t LOSSES < <(split_list "$2")
                check_choices "$1" "${ALL_LOSSES[*]}" "${LOSSES[@]}"
                shift 2 ;;
            -d | --datasets)
                mapfile -t DATASETS < <(split_list "$2")
                check_choices "$1" "$(preset_datasets)" "${DATASETS[@]}"
                shift 2 ;;
            -j | --jobs)
                [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, got '$2'"
                JOBS=$2
                shift 2 ;;
            -r | --results-dir)
                RESULTS_DIR=$(cd "$CALLER_DIR" && realpath -m -- "$2")
                shift 2 ;;
            --suffix)
                SUFFIX=$2
                shift 2 ;;
            -n | --dry-run)
                DRY_RUN=1
                shift ;;
            -h | --help)
                usage
                exit 0 ;;
            --)
                shift
                EXTRA=("$@")
                break ;;
            *)
                CONSUMED=0
                if declare -F script_option >/dev/null && script_option "$@"; then
                    shift "$CONSUMED"
                else
                    die "unknown option '$1': see $0 --help"
                fi ;;
        esac
    done
    if [[ $RESULTS_DIR == results ]]; then
        FOLDER_OPTIONS=()
    else
        FOLDER_OPTIONS=(--results-dir "$RESULTS_DIR")
    fi
    THREADS=$(($(nproc) / JOBS))
    ((THREADS >= 1)) || THREADS=1
    THREADS=${OMP_NUM_THREADS:-$THREADS}
}

contains() {
    local word=$1
    shift
    [[ " $* " == *" $word "* ]]
}

# The best_* presets of the chosen datasets, one per line.
chosen_best_presets() {
    local preset
    for preset in "${BEST_PRESETS[@]}"; do
        contains "${preset#best_}" "${DATASETS[@]}" && echo "$preset"
    done
}

# Whether results/<run> is a run folder (its specs.json is written when training starts; with
# -n every run counts as present).
run_exists() {
    ((DRY_RUN)) || [[ -f $RESULTS_DIR/$1/specs.json ]]
}

skip_missing() {
    echo "skip: no trained run $RESULTS_DIR/$1"
}

# A script whose option may only keep its value: fixed OPTION VALUE DEFAULT REASON.
fixed() {
    [[ $2 == "$3" ]] || die "$1 $2 does not apply: $4"
}

# train_run RUN PRESET [main.py options]: train a run with a preset.
train_run() {
    local name=$1 preset=$2
    shift 2
    run_job "$name" "$RESULTS_DIR/logs/train/$name.log" "$PYTHON" main.py "$name" -x "$preset" \
        "$@" --no-progress-bar "${FOLDER_OPTIONS[@]}" "${EXTRA[@]}"
}

# ----------------------------------------------------------------------------- job pool

# Commands are collected by run_job and run by wait_all with the pool of utils/launchers.py
# (the one of python -m utils.sweep): N at a time, each in its own process group with its log,
# one SIGTERM to each running command on Ctrl-C or SIGTERM. The pool needs only Python's
# standard library, so it runs with .venv/bin/python, else python3, even when $PYTHON is
# another program.
if [[ -x .venv/bin/python ]]; then POOL_PYTHON=.venv/bin/python; else POOL_PYTHON=python3; fi
POOL_DIR=$(mktemp -d)
JOB_FILE=$POOL_DIR/jobs
trap 'rm -rf "$POOL_DIR"' EXIT
: >"$JOB_FILE"
FAILED=()
N_DONE=0

# run_job NAME LOG COMMAND...: queue COMMAND (wait_all runs the queue; -n prints it).
run_job() {
    local name=$1 log=$2
    shift 2
    if ((DRY_RUN)); then
        local line
        line=$(printf '%q ' "$@")
        echo "${line% }"
        return
    fi
    printf '%s\0' "$name" "$log" "$#" "$@" >>"$JOB_FILE"
}

# Run the queued commands with the pool, then count the done and failed ones.
wait_all() {
    [[ -s $JOB_FILE ]] || return 0
    run_foreground "$POOL_PYTHON" -m utils.launchers "$JOB_FILE" "$POOL_DIR/result" \
        -j "$JOBS" --threads "$THREADS"
    local status=$? result=()
    ((status == 130)) && exit 130
    : >"$JOB_FILE"
    mapfile -t result <"$POOL_DIR/result" || die "the job pool failed (exit $status)"
    N_DONE=$((N_DONE + result[0]))
    FAILED+=("${result[@]:1}")
}

# run_foreground COMMAND...: run COMMAND with its output on the terminal and return its exit
# status, while staying able to stop it (bash delays traps until a foreground command ends).
FOREGROUND=""
run_foreground() {
    "$@" &
    FOREGROUND=$!
    local status=0
    wait "$FOREGROUND" || status=$?
    FOREGROUND=""
    return "$status"
}

# On Ctrl-C or SIGTERM: pass one SIGTERM to the running pool or script, which stops its
# commands (main.py saves a checkpoint first), and wait for it.
stop_jobs() {
    trap - INT TERM
    if [[ -n $FOREGROUND ]]; then
        kill -TERM "$FOREGROUND" 2>/dev/null
        wait
    fi
    exit 130
}
trap stop_jobs INT TERM

# Wait for the last jobs; exit 1 naming the failed ones.
finish() {
    wait_all
    ((DRY_RUN)) && exit 0
    if ((${#FAILED[@]})); then
        echo "${#FAILED[@]} command(s) failed: ${FAILED[*]} (see $RESULTS_DIR/logs/)" >&2
        exit 1
    fi
    if ((N_DONE)); then echo "all $N_DONE command(s) succeeded"; else echo "nothing to run"; fi
}
