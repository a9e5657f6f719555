"""The dSprites comparison shipped under results/dsprites_cpu/: seven objectives x three seeds
trained by

    python -m utils.sweep dsprites_cpu -l VAE,betaH,betaB,factor,btcvae,dipI,dipII --seeds 1-3 \\
        --anneal scaled -j 2 -- --max-steps 3500 --no-test --metrics-images 100000 --dci-trees 10

(the CPU protocol of bin/reproduce_cpu.sh, with seeds), then summarised with UDR
(python -m utils.summary --results-dir results/dsprites_cpu --udr). Its runs and facts, for
the tests that check them."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SWEEP = REPO / "results" / "dsprites_cpu"
LOSSES = ("VAE", "betaH", "betaB", "factor", "btcvae", "dipI", "dipII")
SEEDS = (1, 2, 3)
RUNS = [f"{loss}_dsprites_s{seed}" for loss in LOSSES for seed in SEEDS]
FIRST_SEED_RUNS = [f"{loss}_dsprites_s1" for loss in LOSSES]  # those shipped with their GIFs
STEPS = 3500
DATA_VERSION = 2  # the procedural dSprites geometry they were trained on
