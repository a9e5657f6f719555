"""The training loop: steps, per-epoch loss logging, weight snapshots and epoch-end hooks."""
import logging
import os
import time

import torch
from tqdm import tqdm

from disvae.utils.modelIO import save_model

TRAIN_LOSSES_LOG = "train_losses.log"
LOSSES_HEADER = "Epoch,Loss,Value"
BAR_REFRESH_S = 0.5


class LossesLogger:
    """Appends per-epoch means to train_losses.log in the original `epoch,key,value` format."""

    def __init__(self, path):
        self.path = path
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            with open(path, "w") as handle:
                handle.write(LOSSES_HEADER + "\n")

    def log(self, epoch, means):
        with open(self.path, "a") as handle:
            handle.writelines(f"{epoch},{key},{value}\n" for key, value in means.items())


class Trainer:
    """Runs epochs of optimisation steps and records what happened.

    batches(epoch, start_batch) must return an iterable over that epoch's training batches
    (float tensors) from batch number start_batch on; n_batches is their count per epoch.
    Every logged term is averaged over every step of the epoch: the terms stay on the device
    and are read back once per epoch (and when the progress bar refreshes).
    on_epoch_end(epoch, model) hooks run after each epoch (e.g. GIF frames).
    """

    def __init__(self, model, optimizer, loss_f, save_dir, device="cpu", checkpoint_every=30,
                 is_progress_bar=True, on_epoch_end=(), logger=None):
        self.model = model
        self.optimizer = optimizer
        self.loss_f = loss_f
        self.save_dir = save_dir
        self.device = device
        self.checkpoint_every = checkpoint_every
        self.is_progress_bar = is_progress_bar
        self.on_epoch_end = list(on_epoch_end)
        self.logger = logger or logging.getLogger(__name__)
        self.losses_logger = LossesLogger(os.path.join(save_dir, TRAIN_LOSSES_LOG))
        self.step = 0
        self.epoch = 0

    def __call__(self, batches, n_batches, epochs, max_steps=None):
        """Train until `epochs` epochs or `max_steps` optimisation steps, whichever comes first."""
        start = time.monotonic()
        self.model.train()
        while self.epoch < epochs and not self._reached(max_steps):
            means = self._train_epoch(batches(self.epoch, 0), n_batches, max_steps)
            self._end_epoch(means)
        self.model.eval()
        self.logger.info("Finished training after %d steps in %.1f min.", self.step,
                         (time.monotonic() - start) / 60)

    def _reached(self, max_steps):
        return max_steps is not None and self.step >= max_steps

    def _train_epoch(self, batches, n_batches, max_steps):
        sums, n_steps = None, 0
        bar = tqdm(total=n_batches, desc=f"Epoch {self.epoch}", leave=False,
                   disable=not self.is_progress_bar)
        last_refresh = time.monotonic()
        loss_index = self.loss_f.names.index("loss")
        for data in batches:
            self.step += 1
            values = self.loss_f.train_step(self.model, data.to(self.device), self.optimizer,
                                            self.step)
            sums = values if sums is None else sums + values
            n_steps += 1
            bar.update()
            if self.is_progress_bar and time.monotonic() - last_refresh > BAR_REFRESH_S:
                bar.set_postfix(loss=f"{values[loss_index].item():.3f}")
                last_refresh = time.monotonic()
            if self._reached(max_steps):
                break
        bar.close()
        if n_steps == 0:
            raise ValueError("the training set gave no batch: check that the dataset is not "
                             "empty")
        return dict(zip(self.loss_f.names, (sums / n_steps).tolist()))

    def _end_epoch(self, means):
        self.logger.info("Epoch: %d Average loss per image: %.2f", self.epoch, means["loss"])
        self.losses_logger.log(self.epoch, means)
        for hook in self.on_epoch_end:
            hook(self.epoch, self.model)
        if self.checkpoint_every and self.epoch % self.checkpoint_every == 0:
            save_model(self.model, self.save_dir, filename=f"model-{self.epoch}.pt")
        self.epoch += 1
        self.model.train()
