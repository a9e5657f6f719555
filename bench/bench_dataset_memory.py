"""Batch-drawing rate of a dataset, and how much of its images two processes share.

    .venv/bin/python bench/bench_dataset_memory.py rate -d dsprites --data-dir /tmp/data
    .venv/bin/python bench/bench_dataset_memory.py share -d dsprites --data-dir /tmp/data

rate: `dataset.batch(indices)` for random batches of --batch-size indices (drawn uniformly,
as an epoch's permutation gives them) on the CPU; --repeats timed rounds of --batches batches
after one untimed warm-up round; prints each round's images per second and their median.
With --in-memory-too the rounds alternate between the dataset as loaded (memory-mapped) and a
private in-memory copy of its stored images, so that both meet the same machine load.

share: two processes load the dataset and read every image once (batches of 4,096 in order),
then hold it; while both hold it, the memory counters of /proc/<pid>/smaps_rollup (Rss, Pss,
Shared_Clean, Private_Clean, Private_Dirty, Anonymous) of each are printed. Images held in a
private array show as Anonymous/Private_Dirty in each process; images mapped from one cache
file show as Shared_Clean, each process being charged half of them in Pss.

train: alternating windows of training steps on dsprites, dsprites_color and dsprites_noisy
in one process (see `train`), for the cost of making the variants' batches.

--code DIR imports the toolkit from DIR instead of this checkout, to compare two versions of
the code on the same data.
"""
import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROLLUP_FIELDS = ("Rss", "Pss", "Shared_Clean", "Private_Clean", "Private_Dirty", "Anonymous")
READ_CHUNK = 4096


def use_code(args):
    """Import the toolkit from args.code, else from this checkout."""
    sys.path.insert(0, args.code or str(Path(__file__).resolve().parents[1]))


def load(args):
    """The dataset named by args."""
    from utils.datasets import get_dataset
    return get_dataset(args.dataset, "train", root=args.data_dir, allow_download=False)


def batch_rate(dataset, n_batches, batch_size, generator):
    """Images per second of dataset.batch over n_batches random batches."""
    import torch
    indices = torch.randint(len(dataset), (n_batches, batch_size), generator=generator)
    started = time.perf_counter()
    for row in indices:
        dataset.batch(row)
    return n_batches * batch_size / (time.perf_counter() - started)


def in_memory_copy(dataset):
    """The dataset with its stored images copied into this process's private memory (how
    every dataset was held before the memory-mapped caches)."""
    import copy
    private = copy.copy(dataset)
    private.images = dataset.images.clone()
    return private


def rate(args):
    """Print the rate of each timed round and their median; with --in-memory-too, alternate
    rounds on the dataset as loaded and on an in-memory copy of its stored images."""
    import torch
    torch.set_num_threads(args.threads)
    datasets = {"as loaded": load(args)}
    if args.in_memory_too:
        datasets["in-memory copy"] = in_memory_copy(datasets["as loaded"])
    generator = torch.Generator().manual_seed(0)
    for dataset in datasets.values():  # warm-up rounds
        batch_rate(dataset, args.batches, args.batch_size, generator)
    rates = {label: [] for label in datasets}
    for _ in range(args.repeats):
        for label, dataset in datasets.items():
            rates[label].append(batch_rate(dataset, args.batches, args.batch_size, generator))
    for label, values in rates.items():
        print(f"{args.dataset} ({label}): batch {args.batch_size}, rounds of {args.batches} "
              f"batches: " + ", ".join(f"{value:,.0f}" for value in values)
              + f" images/s; median {statistics.median(values):,.0f} images/s")


def train(args):
    """Alternate timed windows of --window-steps training steps (betaH, Burgess model, Adam,
    batch --batch-size, random batches) on dsprites, dsprites_color and dsprites_noisy in
    this process, after one warm-up window each, so that all three meet the same load; print
    each dataset's window rates, their median and the ratio to dsprites."""
    import torch
    from disvae.models.losses import get_loss_f
    from disvae.models.vae import init_specific_model
    from disvae.utils.optim import adam
    torch.set_num_threads(args.threads)
    names = ("dsprites", "dsprites_color", "dsprites_noisy")
    runs = {}
    for name in names:
        args.dataset = name
        dataset = load(args)
        model = init_specific_model("Burgess", dataset.img_size, 10)
        runs[name] = (dataset, model, adam(model.parameters(), lr=5e-4),
                      get_loss_f("betaH", 10, n_data=len(dataset)))
    generator = torch.Generator().manual_seed(0)

    def window(name):
        dataset, model, optimizer, loss_f = runs[name]
        started = time.perf_counter()
        for step in range(args.window_steps):
            batch = dataset.batch(torch.randint(len(dataset), (args.batch_size,),
                                                generator=generator))
            loss_f.train_step(model, batch, optimizer, step)
        return args.window_steps * args.batch_size / (time.perf_counter() - started)
    for name in names:
        window(name)
    rates = {name: [] for name in names}
    for _ in range(args.repeats):
        for name in names:
            rates[name].append(window(name))
    plain = statistics.median(rates["dsprites"])
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"{name}: windows of {args.window_steps} steps at batch {args.batch_size}: "
              + ", ".join(f"{value:,.0f}" for value in values)
              + f" images/s; median {median:,.0f} images/s ({median / plain:.2f}x dsprites)")


def hold(args):
    """Read every image once, say so, and hold the dataset until stdin closes."""
    import torch
    dataset = load(args)
    for start in range(0, len(dataset), READ_CHUNK):
        dataset.batch(torch.arange(start, min(start + READ_CHUNK, len(dataset))))
    print("ready", flush=True)
    sys.stdin.read()


def rollup(pid):
    """The smaps_rollup counters of a process, in MiB."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ROLLUP_FIELDS:
                values[key] = int(rest.split()[0]) / 1024
    return values


def share(args):
    """Start two holders, print their counters while both hold the dataset, stop them."""
    command = [sys.executable, __file__, "hold", "-d", args.dataset, "--data-dir", args.data_dir]
    command += ["--code", args.code] if args.code else []
    holders = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True) for _ in range(2)]
    try:
        for holder in holders:
            if holder.stdout.readline().strip() != "ready":
                raise SystemExit(f"holder {holder.pid} failed")
        for number, holder in enumerate(holders, 1):
            print(f"process {number}: " + ", ".join(
                f"{key} {value:,.0f} MiB" for key, value in rollup(holder.pid).items()))
    finally:
        for holder in holders:
            holder.stdin.close()
            holder.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("rate", "share", "train", "hold"))
    parser.add_argument("-d", "--dataset", default="dsprites")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--code", help="import the toolkit from this folder")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--in-memory-too", action="store_true",
                        help="rate: also time a private in-memory copy of the stored images")
    parser.add_argument("--window-steps", type=int, default=10, help="train: steps per window")
    args = parser.parse_args()
    use_code(args)
    {"rate": rate, "share": share, "train": train, "hold": hold}[args.mode](args)


if __name__ == "__main__":
    main()
