"""Deconvolutional decoder of Burgess et al. 2018, mirror of `encoders.EncoderBurgess`."""
import torch
from torch import nn

from disvae.models.encoders import (HIDDEN_CHANNELS, HIDDEN_DIM, KERNEL_SIZE,
                                    check_img_size)


class DecoderBurgess(nn.Module):
    """z (B, latent_dim) -> pixel means/probabilities (B, C, H, W) in [0, 1] (sigmoid output)."""

    def __init__(self, img_size, latent_dim=10):
        super().__init__()
        check_img_size(img_size)
        self.img_size = tuple(img_size)
        channels = img_size[0]
        self.lin1 = nn.Linear(latent_dim, HIDDEN_DIM)
        self.lin2 = nn.Linear(HIDDEN_DIM, HIDDEN_DIM)
        self.lin3 = nn.Linear(HIDDEN_DIM, HIDDEN_CHANNELS * KERNEL_SIZE * KERNEL_SIZE)
        conv = dict(kernel_size=KERNEL_SIZE, stride=2, padding=1)
        if img_size[1] == 64:
            self.convT_64 = nn.ConvTranspose2d(HIDDEN_CHANNELS, HIDDEN_CHANNELS, **conv)
        self.convT1 = nn.ConvTranspose2d(HIDDEN_CHANNELS, HIDDEN_CHANNELS, **conv)
        self.convT2 = nn.ConvTranspose2d(HIDDEN_CHANNELS, HIDDEN_CHANNELS, **conv)
        self.convT3 = nn.ConvTranspose2d(HIDDEN_CHANNELS, channels, **conv)

    def forward(self, z):
        # ReLU in place: convolutions and linear layers keep their inputs, not their outputs,
        # for the backward pass, so the values are the same with one buffer less per layer
        x = torch.relu_(self.lin1(z))
        x = torch.relu_(self.lin2(x))
        x = torch.relu_(self.lin3(x))
        x = x.view(-1, HIDDEN_CHANNELS, KERNEL_SIZE, KERNEL_SIZE)
        if self.img_size[1] == 64:
            x = torch.relu_(self.convT_64(x))
        x = torch.relu_(self.convT1(x))
        x = torch.relu_(self.convT2(x))
        # probabilities in z's dtype also under mixed precision: log(1 - p) needs float32
        return torch.sigmoid(self.convT3(x).to(z.dtype))
