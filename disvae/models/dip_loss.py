"""DIP-VAE-I and DIP-VAE-II (Kumar, Sattigeri & Balakrishnan 2018, eqs. 6 and 7); declared,
with their defaults and their source, in disvae/objectives/dip.py.

The loss is rec + KL + a(t) penalty(C), with penalty(C) = lambda_od sum_{i != j} C_ij^2 +
lambda_d sum_i (C_ii - 1)^2 pushing the covariance C of the codes towards the identity.
C is estimated on the batch with 1/N normalisation, as the paper's expectations are:
DIP-VAE-I takes the covariance of the posterior means, DIP-VAE-II that of the aggregate
posterior q(z), the mean posterior covariance plus the covariance of the means. Like
FactorVAE's TC, only the added penalty is annealed over --reg-anneal steps.
"""
import torch

from disvae.models.losses import BaseLoss, _stack, annealing_fraction, reconstruction_loss


def covariance_of_means(mean):
    """Cov_p(x)[mu(x)] on a batch (N, D): E[mu mu^T] - E[mu] E[mu]^T (D, D)."""
    centred = mean - mean.mean(dim=0)
    return centred.T @ centred / mean.shape[0]


def aggregate_posterior_covariance(mean, logvar):
    """Cov_q(z)[z] = E_p(x)[Sigma(x)] + Cov_p(x)[mu(x)] (D, D) for diagonal Gaussian
    posteriors, Sigma(x) = diag(exp(logvar(x)))."""
    return covariance_of_means(mean) + torch.diag(logvar.exp().mean(dim=0))


def dip_penalty(covariance, lambda_od, lambda_d):
    """lambda_od sum_{i != j} C_ij^2 + lambda_d sum_i (C_ii - 1)^2 (eq. 6)."""
    diagonal = covariance.diagonal()
    off_diagonal = covariance - torch.diag(diagonal)
    return lambda_od * off_diagonal.pow(2).sum() + lambda_d * (diagonal - 1).pow(2).sum()


class DipILoss(BaseLoss):
    """DIP-VAE-I: the penalty on the covariance of the posterior means."""

    min_batch_size = 2  # a covariance needs two codes

    def __init__(self, latent_dim, lambda_od=10.0, lambda_d=100.0, **kwargs):
        super().__init__(latent_dim, **kwargs)
        self.lambda_od, self.lambda_d = lambda_od, lambda_d

    def term_names(self, latent_dim):
        return super().term_names(latent_dim) + ["dip_loss"]

    def covariance(self, mean, logvar):
        return covariance_of_means(mean)

    def terms(self, model, data, step):
        recon, (mean, logvar), _ = model(data)
        rec = reconstruction_loss(data, recon, self.rec_dist)
        kl, kl_per_dim = self._kl_values(mean, logvar)
        penalty = dip_penalty(self.covariance(mean, logvar), self.lambda_od, self.lambda_d)
        loss = rec + kl + annealing_fraction(step, self.reg_anneal) * penalty
        return loss, _stack(rec, kl, kl_per_dim, loss, penalty)


class DipIILoss(DipILoss):
    """DIP-VAE-II: the penalty on the covariance of the aggregate posterior."""

    def __init__(self, latent_dim, lambda_od=10.0, lambda_d=10.0, **kwargs):
        super().__init__(latent_dim, lambda_od=lambda_od, lambda_d=lambda_d, **kwargs)

    def covariance(self, mean, logvar):
        return aggregate_posterior_covariance(mean, logvar)
