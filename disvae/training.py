"""The training loop: steps, loss logging, checkpoints, clean stops and resumption.

Two logs: train_losses.log, each logged term's mean over every step of an epoch (the original
toolkit's format), and train_steps.log, the means over windows of log_every_steps steps, so
that a run shorter than an epoch, or a long one, still has loss curves.

One Trainer runs epochs of optimisation steps and keeps what a stopped run needs to continue
bit for bit: a checkpoint (disvae.utils.modelIO) is written before the first step, at every
epoch end and whenever training stops early (max_steps, SIGINT, SIGTERM). The batch order of
an epoch is a pure function of (seed, epoch), so the epoch and batch reached locate the next
batch; the running sums of the unfinished epoch travel in the checkpoint so that its logged
means equal those of a run that never stopped.

Health checks cost one host synchronisation every CHECK_EVERY_STEPS steps: the logged terms
stay on the device, and a non-finite one is remembered there (step and term) until the next
check, which stops training before any checkpoint could be written from poisoned weights.
Under torchrun the checks are collective, so every process stops at the same step.
"""
import contextlib
import logging
import os
import signal
import sys
import threading
import time

import torch

from disvae.utils import distributed
from disvae.utils.modelIO import (capture_rng_states, restore_rng_states, save_checkpoint,
                                  save_model)
from disvae.utils.progress import TrainingProgress, total_steps
from disvae.utils.run_folder import (CHECKPOINT_FILE, LOSSES_HEADER, STEPS_HEADER,
                                     TRAIN_LOSSES_FILE, TRAIN_STEPS_FILE, truncate_atomically)

CHECK_EVERY_STEPS = 20
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(Exception):
    """SIGINT or SIGTERM stopped training after a step; a checkpoint holds that step."""

    def __init__(self, signum, step, checkpoint_path):
        self.signum, self.step, self.checkpoint_path = signum, step, checkpoint_path
        super().__init__(f"training stopped by {signal.Signals(signum).name} after step {step}; "
                         f"checkpoint saved to {checkpoint_path}")


class TrainingDiverged(Exception):
    """A loss term or the weights became NaN or infinite; the last checkpoint is earlier."""

    def __init__(self, what, step, checkpoint_step):
        self.step, self.checkpoint_step = step, checkpoint_step
        super().__init__(f"{what} became NaN or infinite at step {step}; training stopped and "
                         f"the last good checkpoint (step {checkpoint_step}) is kept")


class LossesLogger:
    """Appends means to a `<index>,key,value` log: per epoch to train_losses.log (the original
    format), per window of steps (index: the window's last step) to train_steps.log."""

    def __init__(self, path, header=LOSSES_HEADER):
        self.path = path
        self.header_bytes = len(header) + 1
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            with open(path, "w") as handle:
                handle.write(header + "\n")

    def log(self, index, means):
        with open(self.path, "a") as handle:
            handle.writelines(f"{index},{key},{value}\n" for key, value in means.items())

    def size(self):
        return os.path.getsize(self.path)

    def rewind(self, size):
        """Drop what was logged after a checkpoint: the provisional means of an unfinished
        epoch, or epochs after the checkpoint (they are logged again, identically)."""
        if self.size() > size:
            truncate_atomically(self.path, size)


class NonFiniteWatch:
    """Remembers on the device the first step whose logged terms were not all finite, and the
    first such term, without waiting for the device."""

    def __init__(self, device):
        self.first = torch.zeros(2, dtype=torch.long, device=device)  # step (0: none), term

    def update(self, values, step):
        bad = ~torch.isfinite(values)
        candidate = torch.stack((torch.full((), step, dtype=torch.long, device=values.device),
                                 bad.long().argmax()))
        self.first = torch.where(bad.any() & (self.first[0] == 0), candidate, self.first)


def all_finite(state):
    """Whether every floating-point tensor in a nested dict/list/tuple is finite (one host
    synchronisation per device)."""
    flags = {}

    def visit(node):
        if isinstance(node, torch.Tensor) and node.is_floating_point():
            flags.setdefault(node.device, []).append(torch.isfinite(node).all())
        elif isinstance(node, dict):
            for value in node.values():
                visit(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                visit(value)

    visit(state)
    return all(bool(torch.stack(group).all()) for group in flags.values())


class Trainer:
    """Runs epochs of optimisation steps and records what happened.

    batches(epoch, start_batch) must return an iterable over that epoch's training batches
    (float tensors) from batch number start_batch on; n_batches is their count per epoch.
    Every logged term is averaged over every step of the epoch, and over every window of
    log_every_steps steps (0: no train_steps.log), and under torchrun over the processes; the
    last window of a run may be shorter. on_epoch_end hooks run as hook(epoch, model, step)
    after each epoch on the main process, with the random generators restored afterwards so
    that hooks never change training; with hooks_every_steps they also run after every this
    many steps within an epoch. Under torchrun only rank 0 writes files or
    shows progress (`disvae.utils.progress`). tensorboard: a TensorBoardLog that receives
    every logged window, or None.
    """

    def __init__(self, model, optimizer, loss_f, save_dir, device="cpu", checkpoint_every=30,
                 is_progress_bar=True, on_epoch_end=(), logger=None, log_every_steps=100,
                 hooks_every_steps=0, tensorboard=None):
        self.model = model
        self.optimizer = optimizer
        self.loss_f = loss_f
        self.save_dir = save_dir
        self.device = torch.device(device)
        self.checkpoint_every = checkpoint_every
        self.on_epoch_end = list(on_epoch_end)
        self.logger = logger or logging.getLogger(__name__)
        self.is_main = distributed.rank() == 0
        self.is_progress_bar = is_progress_bar and self.is_main
        self.hooks_every_steps = hooks_every_steps
        self.tensorboard = tensorboard if self.is_main else None
        self.progress = None
        self.losses_logger = (LossesLogger(os.path.join(save_dir, TRAIN_LOSSES_FILE))
                              if self.is_main else None)
        self.log_every_steps = log_every_steps
        self.steps_logger = (LossesLogger(os.path.join(save_dir, TRAIN_STEPS_FILE), STEPS_HEADER)
                             if self.is_main and log_every_steps else None)
        self.step_model = distributed.wrap_model(model, self.device)
        for module in vars(loss_f).values():
            if isinstance(module, torch.nn.Module):
                distributed.synchronise(module)
        self.step = 0
        self.epoch = 0
        self.batch = 0  # batches of the current epoch already trained on
        self.epoch_sums = None  # sums of the logged terms over the current epoch's steps
        self.epoch_steps = 0
        self.window_sums = None  # the same over the current window of log_every_steps steps
        self.window_steps = 0
        self.checkpoint_step = None
        self.checkpoint_path = os.path.join(save_dir, CHECKPOINT_FILE)
        self._signal = None
        self._watch = NonFiniteWatch(self.device)

    def __call__(self, batches, n_batches, epochs, max_steps=None):
        """Train until `epochs` epochs or `max_steps` optimisation steps, whichever comes first.

        Raises TrainingInterrupted after SIGINT/SIGTERM and TrainingDiverged on a NaN or
        infinite loss; a checkpoint from before the problem is kept in both cases.
        """
        start = time.monotonic()
        self.model.train()
        if self.tensorboard is not None:  # a resumed run writes again after its last window
            self.tensorboard.open(purge_step=self.step - self.window_steps + 1 if self.step
                                  else None)
        self.progress = TrainingProgress(self.step, total_steps(epochs, n_batches, max_steps),
                                         self.logger, self.is_progress_bar)
        event_files = (contextlib.closing(self.tensorboard) if self.tensorboard is not None
                       else contextlib.nullcontext())
        with self._stop_on_signals(), contextlib.closing(self.progress), event_files:
            if self.checkpoint_step is None:
                self._save_checkpoint()
            trained = False
            while self.epoch < epochs and not self._reached(max_steps):
                self.progress.set_epoch(self.epoch, epochs)
                completed = self._train_epoch(batches(self.epoch, self.batch), n_batches,
                                              max_steps)
                self._end_epoch(completed)
                trained = True
            if not trained and self.epoch_steps:
                # resumed at the final checkpoint of a run stopped within an epoch: log that
                # epoch's means again (resuming rewound them) as the run did when it stopped
                self._end_epoch(completed=False)
            if self.log_every_steps and self.window_steps:
                # the last, shorter window, after the final checkpoint (so provisional: a
                # resumed run rewinds it); a signal now finds the run finished: ignored
                self._log_window()
        self.model.eval()
        self.logger.info("Finished training after %d steps in %.1f min.", self.step,
                         (time.monotonic() - start) / 60)

    def _reached(self, max_steps):
        return max_steps is not None and self.step >= max_steps

    def _train_epoch(self, batches, n_batches, max_steps):
        """Steps from batch self.batch on; True when the epoch's batches ran out."""
        completed = True
        for data in batches:
            self.step += 1
            self.batch += 1
            self.epoch_steps += 1
            try:
                values = self.loss_f.train_step(self.step_model, data.to(self.device),
                                                self.optimizer, self.step)
            except RuntimeError:  # e.g. binary cross-entropy refusing NaN reconstructions
                self._diagnose(data.to(self.device))
                raise
            self.epoch_sums = values if self.epoch_sums is None else self.epoch_sums + values
            if self.log_every_steps:
                self.window_sums = (values if self.window_sums is None
                                    else self.window_sums + values)
                self.window_steps += 1
            self._watch.update(values, self.step)
            self.progress.step(len(data) * distributed.world_size(),
                               lambda: self._displayed_terms(values.tolist(), self.step))
            if self.log_every_steps and self.step % self.log_every_steps == 0:
                signum = self._log_window()
                if not self._reached(max_steps):  # else the run is finished: it ends
                    self._stop_if_asked(signum)
            if self._reached(max_steps):
                completed = self.batch >= n_batches
                break
            if self._check_due():
                self._stop_if_asked(self._check_health())
            if (self.is_main and self.hooks_every_steps and self.batch < n_batches
                    and self.step % self.hooks_every_steps == 0):
                self._run_hooks(self.epoch, self.step)  # epoch ends run them anyway
        return completed

    def _displayed_terms(self, values, step):
        """{term: value} of logged values (a list in the order of loss_f.names) and, for an
        objective with a capacity schedule (Burgess et al. 2018), its capacity C at step."""
        terms = dict(zip(self.loss_f.names, values))
        if hasattr(self.loss_f, "capacity"):
            terms["capacity"] = self.loss_f.capacity(step)
        return terms

    def _log_window(self):
        """Log the means over the current window of steps to train_steps.log and start the
        next window; returns the signal any process caught (or None), for the caller to act
        on once the window is logged, so that a checkpoint never holds a full window.
        Raises TrainingDiverged before logging a non-finite mean. Collective under torchrun
        (every process reaches the same steps)."""
        signum = self._check_health()
        total = distributed.sum_over_processes(self.window_sums.clone())
        means = dict(zip(self.loss_f.names,
                         (total / (self.window_steps * distributed.world_size())).tolist()))
        if self.is_main:
            self.steps_logger.log(self.step, means)
            images_per_s = self.progress.window(self.step, self._displayed_terms(
                list(means.values()), self.step))
            if self.tensorboard is not None:
                self.tensorboard.window(self.step, means, images_per_s,
                                        self.optimizer.param_groups[0]["lr"])
        self.window_sums, self.window_steps = None, 0
        return signum

    def _check_due(self):
        # Processes must agree on when to check (the check is collective); a single process
        # also checks right after a signal, so it stops after the current step.
        if distributed.world_size() > 1 or self._signal is None:
            return self.step % CHECK_EVERY_STEPS == 0
        return True

    def _check_health(self):
        """Raise TrainingDiverged if any process saw a non-finite term; else the signal any
        process caught (or None). One host synchronisation."""
        caught = torch.tensor([self._signal or 0], dtype=torch.long, device=self.device)
        rows = distributed.gather(torch.cat((self._watch.first, caught))).tolist()
        diverged = sorted((step, term) for step, term, _ in rows if step > 0)
        if diverged:
            step, term = diverged[0]
            raise TrainingDiverged(f"the loss term {self.loss_f.names[term]!r}", step,
                                   self.checkpoint_step)
        return next((signum for *_, signum in rows if signum), None)

    def _diagnose(self, data):
        """After a failed step: TrainingDiverged if it followed a non-finite loss or weights,
        or if the model's outputs on the batch are not finite (weights so large that they
        overflow), else nothing (local checks only: another process may not have failed)."""
        step, term = self._watch.first.tolist()
        if step:
            raise TrainingDiverged(f"the loss term {self.loss_f.names[term]!r}", step,
                                   self.checkpoint_step)
        self._check_weights()
        with torch.no_grad():
            recon, posterior, _ = self.model(data)
        if not all_finite([recon, *posterior]):
            raise TrainingDiverged("the model's output", self.step, self.checkpoint_step)

    def _check_weights(self):
        """Raise TrainingDiverged if the weights or optimiser states are not all finite (a
        finite loss can still be followed by a non-finite update)."""
        if not all_finite([self.model.state_dict(), self.optimizer.state_dict(),
                           self.loss_f.state_dict()]):
            raise TrainingDiverged("the weights", self.step, self.checkpoint_step)

    def _stop_if_asked(self, signum):
        if signum:
            self._check_weights()
            self._save_checkpoint()
            raise TrainingInterrupted(signum, self.step, self.checkpoint_path)

    def _end_epoch(self, completed):
        """Log, run hooks, snapshot and checkpoint after an epoch, or after a stop within it.

        A stop within an epoch (max_steps) logs that epoch's means so far; the checkpoint is
        written first, so a resumed run replaces them by the means of the whole epoch.
        Nothing is logged, drawn or saved before the losses and weights are known finite.
        """
        self._check_health()
        self._check_weights()
        if self.epoch_steps == 0:
            raise ValueError("the training set gave no batch: check that the dataset is not "
                             "empty")
        total = distributed.sum_over_processes(self.epoch_sums.clone())
        n_terms = self.epoch_steps * distributed.world_size()
        means = dict(zip(self.loss_f.names, (total / n_terms).tolist()))
        epoch = self.epoch
        if completed:
            self.epoch, self.batch, self.epoch_sums, self.epoch_steps = epoch + 1, 0, None, 0
        else:
            self._save_checkpoint()
        if self.is_main:
            with self.progress.message():
                self.logger.info("Epoch: %d Average loss per image: %.2f", epoch, means["loss"])
            self.losses_logger.log(epoch, means)
            self._run_hooks(epoch, self.step)
            if self.checkpoint_every and epoch % self.checkpoint_every == 0:
                save_model(self.model, self.save_dir, filename=f"model-{epoch}.pt")
        if completed:
            self._save_checkpoint()
        self.model.train()

    def _run_hooks(self, epoch, step):
        states = capture_rng_states()
        for hook in self.on_epoch_end:
            hook(epoch, self.model, step)
        restore_rng_states(states)

    def state_dict(self):
        """Everything needed to continue training from here (collective under torchrun)."""
        def gathered(sums):  # every process's own sums, so that they add up as before
            return None if sums is None else distributed.gather(sums).cpu()

        def log_bytes(logger):
            return logger.size() if logger is not None else None
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "loss": self.loss_f.state_dict(), "step": self.step, "epoch": self.epoch,
                "batch": self.batch, "epoch_sums": gathered(self.epoch_sums),
                "epoch_steps": self.epoch_steps, "window_sums": gathered(self.window_sums),
                "window_steps": self.window_steps,
                "losses_log_bytes": log_bytes(self.losses_logger),
                "steps_log_bytes": log_bytes(self.steps_logger),
                "world_size": distributed.world_size(),
                "rng": distributed.gather_objects(capture_rng_states())}

    def load_state_dict(self, state):
        """Continue from a checkpoint of a run with the same number of processes (the losses
        log is rewound to the checkpoint last, once everything else was loaded)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.loss_f.load_state_dict(state["loss"])
        self.step, self.epoch, self.batch = state["step"], state["epoch"], state["batch"]
        self.epoch_steps = state["epoch_steps"]
        self.epoch_sums = self._own_sums(state["epoch_sums"])
        # checkpoints written before train_steps.log existed start its windows afresh
        self.window_sums = self._own_sums(state.get("window_sums"))
        self.window_steps = state.get("window_steps", 0)
        self.checkpoint_step = self.step
        restore_rng_states(state["rng"][distributed.rank()])
        if self.is_main:
            self.losses_logger.rewind(state["losses_log_bytes"])
            if self.steps_logger is not None:  # to its header for an older checkpoint
                self.steps_logger.rewind(state.get("steps_log_bytes") or
                                         self.steps_logger.header_bytes)

    def _own_sums(self, gathered):
        return None if gathered is None else gathered[distributed.rank()].to(self.device)

    def _save_checkpoint(self):
        """Write checkpoint.pt (on rank 0; its callers have checked that the state is finite)."""
        state = self.state_dict()
        if self.is_main:
            save_checkpoint(state, self.save_dir)
        self.checkpoint_step = self.step

    @contextlib.contextmanager
    def _stop_on_signals(self):
        """Catch SIGINT/SIGTERM during training: the first one stops after the current step
        with a checkpoint, a second one exits at once (the last checkpoint is kept)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.signal(signum, self._on_signal) for signum in STOP_SIGNALS}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum, frame):
        name = signal.Signals(signum).name
        if self._signal is not None:
            sys.stderr.write(f"\nsecond stop signal ({name}): exiting at once; the checkpoint of "
                             f"step {self.checkpoint_step} in {self.checkpoint_path} is kept\n")
            sys.stderr.flush()
            os._exit(128 + signum)
        self._signal = signum
        with self.progress.message():  # on a line of its own, not after the bar
            self.logger.warning("%s: stopping after this step to save a checkpoint (send it "
                                "again to exit at once)", name)
