"""What a person watching training sees: a progress bar, or one log line per window of steps.

The bar counts the steps that will actually run, step s of S over the whole run (S: the
epochs' steps, or --max-steps if that comes first), so that its ETA is the run's; its postfix
shows the watched terms (`disvae.utils.term_labels`) of the latest step and the images per
second since the last refresh. Without a bar (--no-progress-bar, batch scripts), every logged
window of steps gives one line: step, images per second over the window, the window's means
of the watched terms and the ETA. Reading the terms costs one host synchronisation, at most
once per refresh_s seconds with a bar and once per window without.
"""
import contextlib
import time

from tqdm import tqdm

from disvae.utils.term_labels import short_term_label, watched_terms

BAR_REFRESH_S = 0.5


def total_steps(epochs, n_batches, max_steps=None):
    """Steps a run of `epochs` epochs of n_batches steps makes, stopped at max_steps."""
    steps = epochs * n_batches
    return steps if max_steps is None else min(steps, max_steps)


def format_terms(terms):
    """`rec 12.3 | KL 4.56 | TC -0.7` from {term: value} of the watched terms."""
    return " | ".join(f"{short_term_label(name)} {value:.4g}" for name, value in terms.items())


class Rate:
    """Images per second between successive calls of `since_last`."""

    def __init__(self):
        self.time, self.images = time.monotonic(), 0

    def add(self, n_images):
        self.images += n_images

    def since_last(self):
        now = time.monotonic()
        rate = self.images / max(now - self.time, 1e-9)
        self.time, self.images = now, 0
        return rate


class TrainingProgress:
    """The bar (is_bar) or the window lines of one training run, from step start_step to
    total (see the module docstring)."""

    def __init__(self, start_step, total, logger, is_bar=True,
                 refresh_s=BAR_REFRESH_S):
        self.start_step, self.total = start_step, total
        self.logger = logger
        self.is_bar = is_bar
        self.refresh_s = refresh_s
        self.start_time = time.monotonic()
        self.bar = tqdm(total=total, initial=start_step, unit="step", leave=False,
                        dynamic_ncols=True, disable=not is_bar)
        self.bar_rate, self.window_rate = Rate(), Rate()
        self.last_refresh = time.monotonic()

    def set_epoch(self, epoch, epochs):
        self.bar.set_description(f"Epoch {epoch + 1}/{epochs}")

    def step(self, n_images, terms):
        """Count one step of n_images images; terms() returns {term: value} of its terms
        (called only when the bar is refreshed: it waits for the device)."""
        self.bar_rate.add(n_images)
        self.window_rate.add(n_images)
        self.bar.update()
        if self.is_bar and time.monotonic() - self.last_refresh > self.refresh_s:
            values = terms()
            shown = {name: values[name] for name in watched_terms(values)}
            self.bar.set_postfix_str(f"{format_terms(shown)} | "
                                     f"{self.bar_rate.since_last():.0f} img/s")
            self.last_refresh = time.monotonic()

    def window(self, step, means):
        """After a logged window ending at `step` with the {term: mean} means: returns the
        window's images per second, and logs a line when there is no bar."""
        images_per_s = self.window_rate.since_last()
        if not self.is_bar:
            shown = {name: means[name] for name in watched_terms(means)}
            self.logger.info("step %d/%d | %.0f img/s | %s | ETA %s", step, self.total,
                             images_per_s, format_terms(shown), self.eta(step))
        return images_per_s

    def eta(self, step):
        """Time left to step `total` at the mean speed of this process's steps so far."""
        done = step - self.start_step
        if done <= 0:
            return "?"
        seconds = (time.monotonic() - self.start_time) / done * (self.total - step)
        return tqdm.format_interval(seconds)

    @contextlib.contextmanager
    def message(self):
        """Write a message on a line of its own: the bar is cleared first, redrawn after."""
        with tqdm.external_write_mode():
            yield

    def close(self):
        self.bar.close()
