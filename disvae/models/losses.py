"""The losses of the five objectives of the original toolkit (declared, with their options,
in disvae.objectives).

Reductions (they fix what beta means): every term is summed over pixels and latent
dimensions and averaged over the batch, as in the original toolkit, so a reconstruction term
is in nats per image.

Each loss exposes `train_step` (one optimisation step, returns the logged terms) and
`eval_terms` (the same terms without gradients). Terms come back as one detached vector in
the order of `loss.names`, so the trainer accumulates them on the device and never waits for
the host during a step.
"""

import torch
from torch.nn import functional as F

from disvae.models.discriminator import Discriminator
from disvae.objectives import RECONSTRUCTION_DISTRIBUTIONS
from disvae.utils.math import log_density_gaussian, log_qz_estimates
from disvae.utils.optim import adam



def annealing_fraction(step, annealing_steps):
    """Linear warm-up a(t) = min(t / A, 1); 1 when A = 0 or outside training (step None)."""
    if step is None or annealing_steps == 0:
        return 1.0
    return min(step / annealing_steps, 1.0)


def reconstruction_loss(data, recon, distribution="bernoulli"):
    """-log p(x|z) summed over pixels, averaged over the batch (nats per image up to a constant).

    bernoulli: binary cross-entropy (also used for colour images, as the original);
    gaussian: 255 * sum (x_hat - x)^2, a Gaussian of fixed small variance on 8-bit values;
    laplace: 3 * sum |x_hat - x|, scaled by 3 to be on the Bernoulli scale (original choice).
    """
    batch_size = data.shape[0]
    if distribution == "bernoulli":
        total = F.binary_cross_entropy(recon, data, reduction="sum")
    elif distribution == "gaussian":
        total = 255.0 * F.mse_loss(recon, data, reduction="sum")
    elif distribution == "laplace":
        total = 3.0 * F.l1_loss(recon, data, reduction="sum")
    else:
        raise ValueError(f"unknown reconstruction distribution {distribution!r}: "
                         f"choose one of {RECONSTRUCTION_DISTRIBUTIONS}")
    return total / batch_size


def kl_normal_per_dim(mean, logvar):
    """KL(N(mean, exp(logvar)) || N(0, I)) per latent dimension, averaged over the batch.

    Closed form 0.5 * (-1 - logvar + mean^2 + exp(logvar)) (Kingma & Welling 2014, app. B).
    """
    return 0.5 * (-1 - logvar + mean.pow(2) + logvar.exp()).mean(dim=0)


class BaseLoss:
    """Common machinery: reconstruction distribution, annealing length, term bookkeeping."""

    min_batch_size = 1  # smallest batch a training step can use

    def __init__(self, latent_dim, rec_dist="bernoulli", reg_anneal=0):
        if rec_dist not in RECONSTRUCTION_DISTRIBUTIONS:
            raise ValueError(f"unknown reconstruction distribution {rec_dist!r}: "
                             f"choose one of {RECONSTRUCTION_DISTRIBUTIONS}")
        self.latent_dim = latent_dim
        self.rec_dist = rec_dist
        self.reg_anneal = reg_anneal
        self.names = self.term_names(latent_dim)

    def term_names(self, latent_dim):
        kl_names = ["kl_loss"] + [f"kl_loss_{d}" for d in range(latent_dim)]
        return ["recon_loss"] + kl_names + ["loss"]

    def terms(self, model, data, step):
        """(loss with graph, detached vector of logged terms); step None means evaluation."""
        raise NotImplementedError

    def train_step(self, model, data, optimizer, step):
        """One optimiser step on a batch; returns the detached logged terms."""
        loss, values = self.terms(model, data, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return values

    @torch.no_grad()
    def eval_terms(self, model, data):
        """Logged terms on a batch without gradients, with the regulariser fully annealed."""
        return self.terms(model, data, None)[1]

    def state_dict(self):
        """Trainable state beside the VAE (none except for FactorVAE)."""
        return {}

    def load_state_dict(self, state):
        pass

    def _kl_values(self, mean, logvar):
        kl_per_dim = kl_normal_per_dim(mean, logvar)
        return kl_per_dim.sum(), kl_per_dim


class VAELoss(BaseLoss):
    """Plain VAE (Kingma & Welling 2014): rec + a(t) KL, KL annealed like the original."""

    beta = 1.0

    def terms(self, model, data, step):
        recon, (mean, logvar), _ = model(data)
        rec = reconstruction_loss(data, recon, self.rec_dist)
        kl, kl_per_dim = self._kl_values(mean, logvar)
        loss = rec + annealing_fraction(step, self.reg_anneal) * self.beta * kl
        return loss, _stack(rec, kl, kl_per_dim, loss)


class BetaHLoss(VAELoss):
    """beta-VAE of Higgins et al. 2017 (eq. 4): rec + a(t) beta KL."""

    def __init__(self, latent_dim, beta=4.0, **kwargs):
        super().__init__(latent_dim, **kwargs)
        self.beta = beta


class BetaBLoss(BaseLoss):
    """Capacity-controlled beta-VAE of Burgess et al. 2018 (eq. 8): rec + gamma |KL - C(t)|.

    C grows linearly from C_init to C_fin nats over `reg_anneal` steps (any direction).
    """

    def __init__(self, latent_dim, C_init=0.0, C_fin=25.0, gamma=100.0, **kwargs):
        super().__init__(latent_dim, **kwargs)
        self.C_init, self.C_fin, self.gamma = C_init, C_fin, gamma

    def capacity(self, step):
        return self.C_init + (self.C_fin - self.C_init) * annealing_fraction(step, self.reg_anneal)

    def terms(self, model, data, step):
        recon, (mean, logvar), _ = model(data)
        rec = reconstruction_loss(data, recon, self.rec_dist)
        kl, kl_per_dim = self._kl_values(mean, logvar)
        loss = rec + self.gamma * (kl - self.capacity(step)).abs()
        return loss, _stack(rec, kl, kl_per_dim, loss)


class BtcvaeLoss(BaseLoss):
    """beta-TCVAE of Chen et al. 2018 (eq. 4): rec + alpha MI + beta TC + a(t) gamma DWKL.

    With z the sampled code of each image, MI = E[log q(z|x) - log q(z)],
    TC = E[log q(z) - log prod_d q(z_d)] and DWKL = E[log prod_d q(z_d) - log p(z)];
    log q(z) and the marginals come from the minibatch estimators of `disvae.utils.math`
    (stratified sampling by default, weighted sampling with is_mss False). They sum to the
    batch KL estimate. Only DWKL is annealed, as in the original toolkit.
    """

    min_batch_size = 2  # the minibatch estimators need another image to compare with

    def __init__(self, latent_dim, n_data, alpha=1.0, beta=6.0, gamma=1.0, is_mss=True, **kwargs):
        super().__init__(latent_dim, **kwargs)
        self.n_data, self.alpha, self.beta, self.gamma = n_data, alpha, beta, gamma
        self.is_mss = is_mss

    def term_names(self, latent_dim):
        kl_names = ["kl_loss"] + [f"kl_loss_{d}" for d in range(latent_dim)]
        return ["recon_loss", "loss", "mi_loss", "tc_loss", "dw_kl_loss"] + kl_names

    def terms(self, model, data, step):
        recon, (mean, logvar), z = model(data)
        rec = reconstruction_loss(data, recon, self.rec_dist)
        log_qz_x = log_density_gaussian(z, mean, logvar).sum(dim=1)
        zeros = torch.zeros_like(z)
        log_pz = log_density_gaussian(z, zeros, zeros).sum(dim=1)
        log_qz, log_prod_qzi = log_qz_estimates(z, mean, logvar, self.n_data, self.is_mss)
        mi = (log_qz_x - log_qz).mean()
        tc = (log_qz - log_prod_qzi).mean()
        dw_kl = (log_prod_qzi - log_pz).mean()
        anneal = annealing_fraction(step, self.reg_anneal)
        loss = rec + self.alpha * mi + self.beta * tc + anneal * self.gamma * dw_kl
        kl, kl_per_dim = self._kl_values(mean, logvar)
        return loss, _stack(rec, loss, mi, tc, dw_kl, kl, kl_per_dim)


class FactorKLoss(BaseLoss):
    """FactorVAE of Kim & Mnih 2018 (eq. 2 and algorithm 2): rec + KL + a(t) gamma TC.

    A batch of 2B images is split in two halves. The VAE is trained on the first half, with the
    TC estimated by the discriminator's log-odds on its codes z1. The discriminator learns to
    tell z1 from codes of the second half whose dimensions were permuted independently across
    the batch (samples of prod_d q(z_d)). It sees z1 detached, so its loss never reaches the
    encoder (the original let it leak into the VAE update).
    """

    min_batch_size = 4  # two halves of at least two images
    state_terms = ("tc_loss", "discrim_loss", "loss")  # terms that need the trained discriminator

    def __init__(self, latent_dim, gamma=10.0, lr_disc=5e-5, device="cpu", **kwargs):
        super().__init__(latent_dim, **kwargs)
        self.gamma = gamma
        self.discriminator = Discriminator(latent_dim).to(device)
        self.optimizer_d = adam(self.discriminator.parameters(), lr=lr_disc, betas=(0.5, 0.9))

    def term_names(self, latent_dim):
        return super().term_names(latent_dim) + ["tc_loss", "discrim_loss"]

    def _vae_terms(self, model, data, step):
        recon, (mean, logvar), z = model(data)
        rec = reconstruction_loss(data, recon, self.rec_dist)
        kl, kl_per_dim = self._kl_values(mean, logvar)
        logits = self.discriminator(z)
        tc = (logits[:, 0] - logits[:, 1]).mean()
        loss = rec + kl + annealing_fraction(step, self.reg_anneal) * self.gamma * tc
        return loss, z, (rec, kl, kl_per_dim, loss, tc)

    def _discriminator_loss(self, z_joint, z_other):
        """0.5 [CE(D(z), q(z)) + CE(D(permuted z'), prod q(z_d))] on detached codes."""
        z_perm = permute_dims(z_other.detach())
        logits = self.discriminator(torch.cat([z_joint.detach(), z_perm]))
        targets = torch.cat([torch.zeros(len(z_joint), dtype=torch.long, device=logits.device),
                             torch.ones(len(z_perm), dtype=torch.long, device=logits.device)])
        return F.cross_entropy(logits, targets)

    def terms(self, model, data, step):
        loss, z, parts = self._vae_terms(model, data, step)
        discrim = self._discriminator_loss(z, z)
        return loss, _stack(*parts, discrim)

    def train_step(self, model, data, optimizer, step):
        half = data.shape[0] // 2
        if half < 2:
            raise ValueError("FactorVAE needs batches of at least 4 images: raise -b")
        data_vae, data_disc = data[:half], data[half:2 * half]
        loss, z1, parts = self._vae_terms(model, data_vae, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

        with torch.no_grad():
            z2 = model.sample_latent(data_disc)
        discrim = self._discriminator_loss(z1, z2)
        self.optimizer_d.zero_grad(set_to_none=True)
        discrim.backward()
        self.optimizer_d.step()
        return _stack(*parts, discrim.detach())

    def state_dict(self):
        return {"discriminator": self.discriminator.state_dict(),
                "optimizer_d": self.optimizer_d.state_dict()}

    def load_state_dict(self, state):
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer_d.load_state_dict(state["optimizer_d"])


def permute_dims(z):
    """Shuffle every latent dimension independently across the batch (Kim & Mnih, alg. 1)."""
    order = torch.rand(z.shape, device=z.device).argsort(dim=0)
    return z.gather(0, order)


def _stack(*parts):
    """Flatten scalars and vectors into one detached 1-D tensor of logged terms."""
    return torch.cat([p.detach().reshape(-1) for p in parts])


def get_loss_f(loss_name, latent_dim, n_data, device="cpu", rec_dist="bernoulli", reg_anneal=0,
               **options):
    """Build a registered objective's loss (disvae.objectives) from the toolkit's option names
    (those of main.py and specs.json); hyperparameters not in options take their declared
    defaults, options of other objectives are ignored."""
    from disvae.objectives import registered
    objectives = registered()
    if loss_name not in objectives:
        raise ValueError(f"unknown loss {loss_name!r}: choose one of {sorted(objectives)}")
    objective = objectives[loss_name]
    hyperparameters = objective.options_class()(**{
        h.name: options[h.name] for h in objective.hyperparameters if h.name in options})
    return objective.build(hyperparameters, latent_dim, rec_dist=rec_dist, reg_anneal=reg_anneal,
                           n_data=n_data, device=device)
