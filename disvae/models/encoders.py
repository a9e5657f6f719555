"""Convolutional encoder of Burgess et al. 2018 ("Understanding disentangling in beta-VAE")."""
import torch
from torch import nn

SUPPORTED_IMG_SIZES = ((32, 32), (64, 64))
HIDDEN_CHANNELS = 32
KERNEL_SIZE = 4
HIDDEN_DIM = 256


def check_img_size(img_size):
    """Raise a one-line ValueError unless img_size is (C, 32, 32) or (C, 64, 64) with C in {1, 3}."""
    channels, height, width = img_size
    if channels not in (1, 3) or (height, width) not in SUPPORTED_IMG_SIZES:
        raise ValueError(f"the Burgess model takes 1- or 3-channel 32x32 or 64x64 images, got "
                         f"{channels}x{height}x{width}: resize the data to one of these sizes")


class EncoderBurgess(nn.Module):
    """x (B, C, H, W) -> (mean, logvar), each (B, latent_dim).

    Four (three for 32x32) stride-2 4x4 convolutions with 32 channels down to 32x4x4, two
    256-unit ReLU layers, and a linear head whose outputs interleave mean and log-variance
    (mean = out[:, 0::2], logvar = out[:, 1::2]) as in the original, so its weights port.
    """

    def __init__(self, img_size, latent_dim=10):
        super().__init__()
        check_img_size(img_size)
        self.img_size = tuple(img_size)
        self.latent_dim = latent_dim
        channels = img_size[0]
        conv = dict(kernel_size=KERNEL_SIZE, stride=2, padding=1)
        self.conv1 = nn.Conv2d(channels, HIDDEN_CHANNELS, **conv)
        self.conv2 = nn.Conv2d(HIDDEN_CHANNELS, HIDDEN_CHANNELS, **conv)
        self.conv3 = nn.Conv2d(HIDDEN_CHANNELS, HIDDEN_CHANNELS, **conv)
        if img_size[1] == 64:
            self.conv_64 = nn.Conv2d(HIDDEN_CHANNELS, HIDDEN_CHANNELS, **conv)
        self.lin1 = nn.Linear(HIDDEN_CHANNELS * KERNEL_SIZE * KERNEL_SIZE, HIDDEN_DIM)
        self.lin2 = nn.Linear(HIDDEN_DIM, HIDDEN_DIM)
        self.mu_logvar_gen = nn.Linear(HIDDEN_DIM, 2 * latent_dim)

    def forward(self, x):
        # ReLU in place: convolutions and linear layers keep their inputs, not their outputs,
        # for the backward pass, so the values are the same with one buffer less per layer
        x = torch.relu_(self.conv1(x))
        x = torch.relu_(self.conv2(x))
        x = torch.relu_(self.conv3(x))
        if self.img_size[1] == 64:
            x = torch.relu_(self.conv_64(x))
        x = x.flatten(start_dim=1)
        x = torch.relu_(self.lin1(x))
        x = torch.relu_(self.lin2(x))
        mean_logvar = self.mu_logvar_gen(x).view(-1, self.latent_dim, 2)
        return mean_logvar[..., 0], mean_logvar[..., 1]
