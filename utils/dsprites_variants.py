"""Colour and noisy dSprites, the variants of Locatello et al. 2019 ("Challenging Common
Assumptions in the Unsupervised Learning of Disentangled Representations", section 5.1),
made from the dSprites grid so that they need nothing beyond dSprites itself.

- `dsprites_color`: each image's sprite takes one RGB colour drawn uniformly from [0.5, 1] per
  channel, the background stays black: image = mask * colour.
- `dsprites_noisy`: the background is replaced by noise drawn uniformly from [0, 1] for every
  pixel and channel, the sprite stays white: image = max(mask, noise), which is the paper's
  min(mask + noise, 1) for a mask of 0s and 1s.

Both are 3x64x64 with the dSprites factors as ground truth (the same factor table; colour and
noise are nuisances, not factors). The dataset keeps the 1-channel grid (memory-mapped, see
utils/array_cache.py) and `batch(indices)` makes the 3-channel floats of the batch on the fly,
on the images' device; 9 GB of RGB images are never stored.

Draws are per image, unlike the paper's (a fresh draw at every visit): the colour and the noise
of image i are a pure function of (i, the dataset's seed), the same in every batch, batch order,
process and machine, so that runs are reproducible, metrics and plots see the images training
saw, and two runs see the same images. They come from a counter-based generator: word number
c of image i of a stream with seed s is

    h(s, i, c) = lowbias32(lowbias32(lowbias32(s) xor i) xor c)

lowbias32 being the 32-bit integer hash of C. Wellons' hash-prospector (x ^= x >> 16;
x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16, modulo 2^32). It is a bijection
of 32-bit words, so the words of one image are all different, and it is computed with exact
int64 arithmetic (every product fits in 63 bits), the same on CPU and GPU.
- Colour of image i: channel c (R, G, B = 0, 1, 2) is 0.5 + 0.5 u with u = (h >> 8) / 2^24,
  h = h(COLOR_SEED, i, c): 24-bit uniforms, exact in float32.
- Noise of image i: one word per pixel, h = h(NOISE_SEED, i, row * 64 + column), whose top 30
  bits give the pixel's three channels, 10 bits each: channel c is (k_c + 0.5) / 1024 with
  k_c = (h >> (2 + 10 c)) & 1023, uniform on 1,024 levels (mean 1/2, variance (1 - 2^-20) / 12,
  against 1/12 for the continuous uniform; an 8-bit image holds 256 levels). One word per pixel
  rather than per value makes the noise three times cheaper to draw.
"""
import torch

from utils.datasets import ImageDataset, load_dsprites

DRAW_VERSION = 1  # bump when the draws change: runs record it (specs.json: data_variant)
COLOR_SEED = 2019_0501
NOISE_SEED = 2019_0502
COLOR_RANGE = (0.5, 1.0)
CHANNELS = 3
MASK_32 = 0xFFFF_FFFF
# lowbias32's multipliers; the second, above 2^31, as its negative residue modulo 2^32 so that
# products of 32-bit words stay within int64
MULTIPLIERS = (0x7FEB352D, 0x846CA68B - 2 ** 32)
COLOR_BITS = 24
NOISE_BITS = 10  # per channel, three channels from one word


def lowbias32(x):
    """C. Wellons' lowbias32 hash of an int64 tensor holding 32-bit words (0 <= x < 2^32),
    computed in place (x is overwritten and returned)."""
    x ^= x >> 16
    x.mul_(MULTIPLIERS[0]).bitwise_and_(MASK_32)
    x ^= x >> 15
    x.mul_(MULTIPLIERS[1]).bitwise_and_(MASK_32)
    x ^= x >> 16
    return x


def hash_words(seed, indices, n_words):
    """(len(indices), n_words) int64: words h(seed, i, c), c = 0 ... n_words - 1, of each image
    i of `indices` (int tensor), on the indices' device (see the module)."""
    indices = indices.to(torch.int64)
    seed_word = lowbias32(torch.tensor(seed & MASK_32, device=indices.device))
    keys = lowbias32(indices ^ seed_word)
    counters = torch.arange(n_words, device=indices.device)
    return lowbias32(keys[:, None] ^ counters[None, :])


def colours(indices):
    """(len(indices), 3) float32: each image's colour, uniform in COLOR_RANGE per channel."""
    low, high = COLOR_RANGE
    uniform = (hash_words(COLOR_SEED, indices, CHANNELS) >> (32 - COLOR_BITS)).to(torch.float32)
    return uniform.mul_((high - low) * 2.0 ** -COLOR_BITS).add_(low)


def noise(indices, height, width):
    """(len(indices), 3, height, width) float32: each image's noise, uniform on 1,024 levels
    in (0, 1) per pixel and channel."""
    top_bits = (hash_words(NOISE_SEED, indices, height * width) >> 2).to(torch.int32)
    shifts = torch.arange(CHANNELS, dtype=torch.int32, device=indices.device) * NOISE_BITS
    levels = (top_bits[:, None, :] >> shifts[None, :, None]).bitwise_and_(2 ** NOISE_BITS - 1)
    return (levels.to(torch.float32).add_(0.5).mul_(2.0 ** -NOISE_BITS)
            .view(len(indices), CHANNELS, height, width))


def colour_images(masks, indices):
    """mask * colour: each sprite in its image's colour."""
    return masks * colours(indices)[:, :, None, None].to(masks.dtype)


def noisy_images(masks, indices):
    """max(mask, noise): white sprites on their images' noise."""
    return torch.maximum(masks, noise(indices, *masks.shape[2:]).to(masks.dtype))


VARIANTS = {"color": colour_images, "noisy": noisy_images}
SEEDS = {"color": COLOR_SEED, "noisy": NOISE_SEED}


class DSpritesVariant(ImageDataset):
    """A dSprites variant: the dSprites grid and factors, batches made by VARIANTS[variant]."""

    def __init__(self, dsprites, variant):
        super().__init__(f"dsprites_{variant}", dsprites.images, scale=dsprites.scale,
                         background_color=0, source=dsprites.source, version=dsprites.version,
                         factor_names=dsprites.factor_names, factor_sizes=dsprites.factor_sizes,
                         factor_classes=dsprites.factor_classes,
                         factor_values=dsprites.factor_values)
        self.variant = f"{variant} draw v{DRAW_VERSION} seed {SEEDS[variant]}"
        self._make = VARIANTS[variant]

    @property
    def img_size(self):
        return (CHANNELS, *self.images.shape[2:])

    def batch(self, indices):
        """Float RGB images in [0, 1] for a tensor of indices, on the images' device."""
        indices = torch.as_tensor(indices, device=self.device)
        return self._make(super().batch(indices), indices)


def load_dsprites_variant(root, split="train", allow_download=True, variant="color"):
    """dsprites_<variant> (see the module): the dSprites grid, recoloured per image."""
    return DSpritesVariant(load_dsprites(root, split, allow_download), variant)

