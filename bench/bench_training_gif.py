"""Cost of training.gif's frames over a run: appended (a frame costs the same at any point of a
run) against rewritten from every frame file (what each frame cost before frames were
appended, and what a resumed run's first frame still costs).

    .venv/bin/python bench/bench_training_gif.py                 # 40 frames
    .venv/bin/python bench/bench_training_gif.py --frames 100

One process draws --frames frames of a dSprites-sized model (1x64x64 images, 10 latents,
untrained: the cost does not depend on the weights) into two fresh folders: with one
TrainingGif hook (each frame after the first appended, utils/gif_append.py), and with a new
hook per frame (each frame rewrites the GIF from all frame files). Both measure every frame's
KL on 256 images, as a training run does. Prints the seconds of the first, middle and last
frame and in total for each, and their ratio.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from disvae.models.vae import init_specific_model  # noqa: E402
from utils.visualize import TRAINING_GIF_KL_IMAGES, TrainingGif  # noqa: E402


def frame_times(n_frames, model, images, new_hook_per_frame):
    """Seconds of each of n_frames calls of the hook, every 1,000 steps."""
    folder = tempfile.mkdtemp(prefix="disvae_gif_bench_")
    hook = None
    times = []
    for frame in range(1, n_frames + 1):
        if hook is None or new_hook_per_frame:
            hook = TrainingGif(folder, 0.0, every_steps=1000, kl_images=images)
        start = time.perf_counter()
        hook(0, model, step=1000 * frame)
        times.append(time.perf_counter() - start)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=40)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = init_specific_model("Burgess", (1, 64, 64), 10)
    images = torch.rand(TRAINING_GIF_KL_IMAGES, 1, 64, 64)
    results = {}
    for label, rewrite in (("appended", False), ("rewritten", True)):
        times = frame_times(args.frames, model, images, rewrite)
        results[label] = sum(times)
        print(f"{label:9s}: frame 1 {times[0]:.2f} s, frame {args.frames // 2} "
              f"{times[args.frames // 2 - 1]:.2f} s, frame {args.frames} {times[-1]:.2f} s; "
              f"{args.frames} frames {sum(times):.1f} s")
    print(f"rewritten / appended: {results['rewritten'] / results['appended']:.1f}x over "
          f"{args.frames} frames")


if __name__ == "__main__":
    main()
