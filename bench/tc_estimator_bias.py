"""Why beta-TCVAE logs a negative total correlation: the minibatch estimators' bias, measured.

TC = E[log q(z) - log prod_d q(z_d)] is never negative, but its minibatch estimate is: each
log-density is a log of a mean over B codes standing for N = 737,280 images (Chen et al. 2018,
sec. 4.1), and log q(z) (one D-dimensional density, peaked: few codes of the batch are near z)
is underestimated more than the product of the one-dimensional marginals. The gap shrinks as
the batch grows. This script encodes random dSprites images with a trained model and prints
the mean MI, TC and dimension-wise KL estimates (minibatch stratified sampling, the training
default) at several batch sizes, over the same images.

    python bench/tc_estimator_bias.py [--run results/dsprites_cpu/btcvae_dsprites_s1] [--images 16384]
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from disvae.utils.math import log_density_gaussian, log_qz_estimates  # noqa: E402
from disvae.utils.modelIO import load_model  # noqa: E402
from utils import dsprites_procedural  # noqa: E402
from utils.config import load_specs  # noqa: E402

N_DSPRITES = int(np.prod(dsprites_procedural.FACTOR_SIZES))


def random_images(n_images, seed):
    rng = np.random.default_rng(seed)
    flat = rng.choice(N_DSPRITES, n_images, replace=False)
    classes = np.stack(np.unravel_index(flat, dsprites_procedural.FACTOR_SIZES), axis=1)
    images = dsprites_procedural.render_dsprites(classes)["imgs"]
    return torch.from_numpy(images).float().unsqueeze(1)


@torch.no_grad()
def decomposition(mean, logvar, batch_size, seed):
    """Mean MI, TC and DWKL estimates over consecutive batches of sampled codes."""
    generator = torch.Generator().manual_seed(seed)
    z = mean + torch.randn(mean.shape, generator=generator) * (0.5 * logvar).exp()
    sums, n_batches = np.zeros(3), 0
    for start in range(0, len(z) - batch_size + 1, batch_size):
        rows = slice(start, start + batch_size)
        zb, mb, lb = z[rows], mean[rows], logvar[rows]
        log_qz_x = log_density_gaussian(zb, mb, lb).sum(1)
        log_pz = log_density_gaussian(zb, torch.zeros_like(zb), torch.zeros_like(zb)).sum(1)
        log_qz, log_prod = log_qz_estimates(zb, mb, lb, N_DSPRITES, is_mss=True)
        sums += [(log_qz_x - log_qz).mean(), (log_qz - log_prod).mean(),
                 (log_prod - log_pz).mean()]
        n_batches += 1
    return sums / n_batches


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="results/dsprites_cpu/btcvae_dsprites_s1")
    parser.add_argument("--images", type=int, default=16384)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    specs = load_specs(args.run)
    model = load_model(args.run, specs["img_size"], specs["latent_dim"], specs["model_type"])
    start = time.monotonic()
    images = random_images(args.images, args.seed)
    with torch.no_grad():
        mean, logvar = zip(*(model.encoder(chunk) for chunk in images.split(1024)))
    mean, logvar = torch.cat(mean), torch.cat(logvar)
    print(f"run {args.run}, {args.images} random dSprites images, MSS estimator")
    print(f"{'batch':>6} {'MI':>8} {'TC':>8} {'DWKL':>8} {'sum':>8}  (nats)")
    for batch_size in (16, 64, 256, 1024, 4096):
        mi, tc, dwkl = decomposition(mean, logvar, batch_size, args.seed)
        print(f"{batch_size:>6} {mi:8.2f} {tc:8.2f} {dwkl:8.2f} {mi + tc + dwkl:8.2f}")
    print(f"({time.monotonic() - start:.0f} s)")


if __name__ == "__main__":
    main()
