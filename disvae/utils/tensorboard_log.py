"""TensorBoard curves of a training run (`main.py --tensorboard`), in results/<name>/tensorboard/.

Every logged window of steps adds, at the window's last step, the means of every logged term
(the numbers of train_steps.log: tags `losses/<term>`, and `kl_of_latent/kl_loss_<d>` for the
per-latent KLs), the images per second over the window (`speed/images_per_s`) and the learning
rate (`optimiser/learning_rate`); every frame of the training GIF (an epoch's end, or an
interval of steps) adds the prior traversal image `traversals/prior`.

A resumed run appends to the same folder and starts with a purge step (torch's SummaryWriter
`purge_step`): TensorBoard hides what the stopped run wrote after its checkpoint's last full
window, which the resumed run writes again, so that the curves continue without duplicates.
"""
import os

from disvae.utils.term_labels import PER_LATENT_KL

TENSORBOARD_DIR = "tensorboard"
IMAGE_TAG = "traversals/prior"
IMAGES_PER_S_TAG = "speed/images_per_s"
LEARNING_RATE_TAG = "optimiser/learning_rate"


def scalar_tag(term):
    """The TensorBoard tag of a logged term (per-latent KLs get their own section)."""
    return f"kl_of_latent/{term}" if PER_LATENT_KL.fullmatch(term) else f"losses/{term}"


class TensorBoardLog:
    """The event files of one run; `open` must be called before anything is added."""

    def __init__(self, run_dir):
        self.log_dir = os.path.join(run_dir, TENSORBOARD_DIR)
        self.writer = None

    def open(self, purge_step=None):
        """Start writing; purge_step: the first step written again by a resumed run."""
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package
        self.writer = SummaryWriter(self.log_dir, purge_step=purge_step)

    def window(self, step, means, images_per_s, learning_rate):
        for term, value in means.items():
            self.writer.add_scalar(scalar_tag(term), value, step)
        self.writer.add_scalar(IMAGES_PER_S_TAG, images_per_s, step)
        self.writer.add_scalar(LEARNING_RATE_TAG, learning_rate, step)

    def image(self, step, picture):
        """Add a uint8 (H, W, 3) picture at step."""
        self.writer.add_image(IMAGE_TAG, picture, step, dataformats="HWC")
        self.writer.flush()

    def close(self):
        if self.writer is not None:
            self.writer.close()
