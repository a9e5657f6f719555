"""Each loss against a hand computation on a tiny batch, and FactorVAE's gradient isolation."""
import copy

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from disvae.models.losses import (BetaBLoss, BetaHLoss, BtcvaeLoss, FactorKLoss, VAELoss,
                                  annealing_fraction, get_loss_f, kl_normal_per_dim,
                                  permute_dims, reconstruction_loss)
from disvae.models.vae import init_specific_model
from disvae.utils.math import log_importance_weight_matrix


class FixedOutputs(nn.Module):
    """A stand-in model whose outputs are given, so losses can be checked by hand."""

    def __init__(self, recon, mean, logvar, z):
        super().__init__()
        self.outputs = (recon, (mean, logvar), z)

    def forward(self, data):
        return self.outputs


def tiny_batch(batch=4, dims=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    data = (torch.rand(batch, 1, 2, 2, generator=gen) > 0.5).double()
    recon = torch.rand(batch, 1, 2, 2, generator=gen, dtype=torch.float64) * 0.9 + 0.05
    mean = torch.randn(batch, dims, generator=gen, dtype=torch.float64)
    logvar = torch.randn(batch, dims, generator=gen, dtype=torch.float64) * 0.5
    z = mean + torch.exp(0.5 * logvar) * torch.randn(batch, dims, generator=gen,
                                                     dtype=torch.float64)
    return data, FixedOutputs(recon, mean, logvar, z)


def hand_bernoulli(data, recon):
    x, p = data.numpy(), recon.numpy()
    return -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum() / len(x)


def hand_kl(mean, logvar):
    m, lv = mean.numpy(), logvar.numpy()
    return (0.5 * (-1 - lv + m ** 2 + np.exp(lv))).mean(axis=0)


def terms_of(loss_f, values):
    return dict(zip(loss_f.names, values.tolist()))


def test_kl_matches_torch_closed_form():
    mean, logvar = torch.randn(2, 5, 4, dtype=torch.float64)
    posterior = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    prior = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    expected = torch.distributions.kl_divergence(posterior, prior).mean(dim=0)
    torch.testing.assert_close(kl_normal_per_dim(mean, logvar), expected)


def test_reconstruction_distributions_by_hand():
    data, model = tiny_batch()
    recon = model.outputs[0]
    diff = (recon - data).numpy()
    assert reconstruction_loss(data, recon, "bernoulli").item() == pytest.approx(
        hand_bernoulli(data, recon))
    assert reconstruction_loss(data, recon, "gaussian").item() == pytest.approx(
        255 * (diff ** 2).sum() / 4)
    assert reconstruction_loss(data, recon, "laplace").item() == pytest.approx(
        3 * np.abs(diff).sum() / 4)


def test_annealing_is_linear_then_flat():
    assert annealing_fraction(0, 100) == 0
    assert annealing_fraction(25, 100) == 0.25
    assert annealing_fraction(500, 100) == 1
    assert annealing_fraction(7, 0) == 1
    assert annealing_fraction(None, 100) == 1


@pytest.mark.parametrize("loss_cls,beta", [(VAELoss, 1.0), (BetaHLoss, 4.0)])
def test_vae_and_beta_h_by_hand(loss_cls, beta):
    data, model = tiny_batch()
    kwargs = {} if loss_cls is VAELoss else {"beta": beta}
    loss_f = loss_cls(3, reg_anneal=10, **kwargs)
    loss, values = loss_f.terms(model, data, step=5)
    kl = hand_kl(*model.outputs[1])
    expected = hand_bernoulli(data, model.outputs[0]) + 0.5 * beta * kl.sum()
    assert loss.item() == pytest.approx(expected)
    terms = terms_of(loss_f, values)
    assert terms["kl_loss"] == pytest.approx(kl.sum())
    assert [terms[f"kl_loss_{d}"] for d in range(3)] == pytest.approx(kl)


def test_beta_b_capacity_by_hand():
    data, model = tiny_batch()
    loss_f = BetaBLoss(3, C_init=1.0, C_fin=21.0, gamma=100.0, reg_anneal=100)
    loss, _ = loss_f.terms(model, data, step=30)
    kl = hand_kl(*model.outputs[1]).sum()
    capacity = 1.0 + 20.0 * 0.3
    assert loss.item() == pytest.approx(hand_bernoulli(data, model.outputs[0])
                                        + 100 * abs(kl - capacity))
    equal_capacities = BetaBLoss(3, C_init=5.0, C_fin=5.0, reg_anneal=100)
    assert equal_capacities.capacity(50) == 5.0


def test_btcvae_by_hand_with_stratified_weights():
    batch, dims, n_data = 4, 3, 50
    data, model = tiny_batch(batch, dims)
    recon, (mean, logvar), z = model.outputs
    loss_f = BtcvaeLoss(dims, n_data=n_data, alpha=2.0, beta=6.0, gamma=3.0, reg_anneal=10)
    loss, values = loss_f.terms(model, data, step=4)

    m, s, zz = mean.numpy(), np.exp(0.5 * logvar.numpy()), z.numpy()
    w = log_importance_weight_matrix(batch, n_data).double().numpy()
    log_qz_x = stats.norm.logpdf(zz, m, s).sum(axis=1)
    log_pz = stats.norm.logpdf(zz).sum(axis=1)
    log_qz = np.array([np.logaddexp.reduce([w[i, j] + stats.norm.logpdf(zz[i], m[j], s[j]).sum()
                                            for j in range(batch)]) for i in range(batch)])
    log_prod = np.array([sum(np.logaddexp.reduce([w[i, j] + stats.norm.logpdf(zz[i, d], m[j, d],
                                                                              s[j, d])
                                                  for j in range(batch)]) for d in range(dims))
                         for i in range(batch)])
    mi, tc = (log_qz_x - log_qz).mean(), (log_qz - log_prod).mean()
    dw_kl = (log_prod - log_pz).mean()
    expected = hand_bernoulli(data, recon) + 2 * mi + 6 * tc + 0.4 * 3 * dw_kl
    terms = terms_of(loss_f, values)
    assert loss.item() == pytest.approx(expected)
    assert (terms["mi_loss"], terms["tc_loss"], terms["dw_kl_loss"]) == pytest.approx(
        (mi, tc, dw_kl))
    assert mi + tc + dw_kl == pytest.approx((log_qz_x - log_pz).mean())


def test_factor_vae_terms_by_hand():
    data, model = tiny_batch()
    loss_f = FactorKLoss(3, gamma=6.0, reg_anneal=10)
    loss_f.discriminator.double()
    loss, values = loss_f.terms(model, data, step=5)
    z = model.outputs[2]
    with torch.no_grad():
        logits = loss_f.discriminator(z)
    tc = (logits[:, 0] - logits[:, 1]).mean().item()
    expected = hand_bernoulli(data, model.outputs[0]) + hand_kl(*model.outputs[1]).sum() \
        + 0.5 * 6.0 * tc
    assert loss.item() == pytest.approx(expected)
    assert terms_of(loss_f, values)["tc_loss"] == pytest.approx(tc)


def test_factor_vae_discriminator_update_does_not_reach_the_encoder():
    """The VAE step with the discriminator update equals the VAE step alone."""
    torch.manual_seed(0)
    data = (torch.rand(16, 1, 64, 64) > 0.5).float()
    model = init_specific_model("Burgess", (1, 64, 64), 4)
    loss_f = FactorKLoss(4, gamma=6.0, lr_disc=1e-2)
    reference_model, reference_loss = copy.deepcopy(model), copy.deepcopy(loss_f)
    disc_before = copy.deepcopy(loss_f.discriminator.state_dict())

    torch.manual_seed(1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_f.train_step(model, data, optimizer, step=1)

    torch.manual_seed(1)
    reference_optimizer = torch.optim.SGD(reference_model.parameters(), lr=0.1)
    vae_loss, _, _ = reference_loss._vae_terms(reference_model, data[:8], 1)
    vae_loss.backward()
    reference_optimizer.step()

    for (name, got), expected in zip(model.named_parameters(), reference_model.parameters()):
        torch.testing.assert_close(got, expected, msg=name)
    changed = [not torch.equal(disc_before[k], v)
               for k, v in loss_f.discriminator.state_dict().items()]
    assert any(changed), "the discriminator was not trained"


def test_factor_vae_rejects_batches_too_small_to_split():
    model = init_specific_model("Burgess", (1, 32, 32), 2)
    loss_f = FactorKLoss(2)
    optimizer = torch.optim.Adam(model.parameters())
    with pytest.raises(ValueError, match="at least 4"):
        loss_f.train_step(model, torch.rand(3, 1, 32, 32), optimizer, 1)


def test_registry_builds_every_loss_with_its_options():
    for name, cls in [("VAE", VAELoss), ("betaH", BetaHLoss), ("betaB", BetaBLoss),
                      ("factor", FactorKLoss), ("btcvae", BtcvaeLoss)]:
        loss_f = get_loss_f(name, latent_dim=5, n_data=100, betaH_B=7, btcvae_B=9)
        assert type(loss_f) is cls
    assert get_loss_f("betaH", 5, 100, betaH_B=7).beta == 7
    assert get_loss_f("btcvae", 5, 100, btcvae_B=9).beta == 9
    assert not get_loss_f("btcvae", 5, 100, btcvae_estimator="mws").is_mss
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss_f("nope", 5, 100)


def test_permute_dims_shuffles_each_column_independently():
    """Kim & Mnih, algorithm 1: every column of the permuted batch is a permutation of the
    same column of the input, and different columns get different permutations, so a batch
    whose columns are all equal (perfectly dependent dimensions) comes back with rows whose
    entries disagree: for independent uniform permutations of 200 rows, two columns still
    agree on about 1 row in 200."""
    torch.manual_seed(0)
    z = torch.arange(200, dtype=torch.float64).unsqueeze(1).repeat(1, 4)
    permuted = permute_dims(z)
    assert permuted.shape == z.shape
    for d in range(4):
        assert torch.equal(permuted[:, d].sort().values, z[:, d])
        assert not torch.equal(permuted[:, d], z[:, d])
    for a in range(4):
        for b in range(a + 1, 4):
            assert (permuted[:, a] == permuted[:, b]).float().mean() < 0.05
    correlation = np.corrcoef(permuted.numpy().T)[np.triu_indices(4, 1)]
    assert np.abs(correlation).max() < 0.3  # 1 before: the joint structure is gone


def test_factor_vae_discriminator_sees_permuted_codes_of_the_second_half():
    """The discriminator's second class is fed permute_dims of the second half's codes: its
    inputs are z1 then a column-wise permutation of z2."""
    torch.manual_seed(0)
    loss_f = FactorKLoss(3)
    seen = []
    real_forward = loss_f.discriminator.forward
    loss_f.discriminator.forward = lambda z: seen.append(z.detach().clone()) or real_forward(z)
    z_joint = torch.randn(6, 3)
    z_other = torch.arange(18, dtype=torch.float32).reshape(6, 3)
    loss_f._discriminator_loss(z_joint, z_other)
    inputs = seen[-1]
    torch.testing.assert_close(inputs[:6], z_joint)
    fed = inputs[6:]
    for d in range(3):
        torch.testing.assert_close(fed[:, d].sort().values, z_other[:, d])
    assert not torch.equal(fed, z_other)


def test_btcvae_alpha_multiplies_the_mutual_information_term():
    """Chen et al. eq. 4: the objective is linear in alpha with slope MI, so two losses that
    differ only in alpha differ by (alpha_1 - alpha_2) MI."""
    data, model = tiny_batch(4, 3)
    values = {}
    for alpha in (1.0, -5.0):
        loss_f = BtcvaeLoss(3, n_data=50, alpha=alpha, beta=6.0, gamma=1.0)
        loss, logged = loss_f.terms(model, data, step=None)
        values[alpha] = (loss.item(), terms_of(loss_f, logged)["mi_loss"])
    assert values[1.0][0] - values[-5.0][0] == pytest.approx(6.0 * values[1.0][1])


def test_btcvae_estimators_differ_by_their_log_weights():
    """MSS and MWS give different log q(z) (stratified vs uniform weights, Chen et al.
    appendix C): the TC term of the same batch must change with is_mss."""
    data, model = tiny_batch(4, 3)
    tc = {}
    for is_mss in (True, False):
        loss_f = BtcvaeLoss(3, n_data=50, is_mss=is_mss)
        tc[is_mss] = terms_of(loss_f, loss_f.terms(model, data, step=None)[1])["tc_loss"]
    assert tc[True] != pytest.approx(tc[False], rel=1e-3)


class RecordingOutputs(FixedOutputs):
    """FixedOutputs that also records the batch it was called on."""

    def forward(self, data):
        self.seen = data
        return self.outputs


@pytest.mark.parametrize("name", ["VAE", "betaH", "betaB", "factor", "btcvae"])
def test_every_loss_logs_one_value_per_term_from_the_model_output_of_its_batch(name):
    """terms() calls the model on the given batch, scores the reconstruction with the chosen
    distribution (here gaussian: 255 sum (x_hat - x)^2 per image) and logs exactly one value
    per name, the KL terms being the closed form of each latent and their sum."""
    data, fixed = tiny_batch()
    model = RecordingOutputs(*fixed.outputs[:1], *fixed.outputs[1], fixed.outputs[2])
    loss_f = get_loss_f(name, latent_dim=3, n_data=50, rec_dist="gaussian")
    if name == "factor":
        loss_f.discriminator.double()
    loss, values = loss_f.terms(model, data, step=None)
    assert model.seen is data
    assert len(values) == len(loss_f.names) == len(set(loss_f.names))
    terms = terms_of(loss_f, values)
    recon = model.outputs[0].numpy()
    assert terms["recon_loss"] == pytest.approx(255 * ((recon - data.numpy()) ** 2).sum() / 4)
    kl = hand_kl(*model.outputs[1])
    assert [terms[f"kl_loss_{d}"] for d in range(3)] == pytest.approx(kl)
    assert terms["kl_loss"] == pytest.approx(kl.sum())
    assert terms["loss"] == pytest.approx(loss.item())


def test_get_loss_f_hands_every_option_to_its_loss():
    common = dict(rec_dist="laplace", reg_anneal=12)
    beta_b = get_loss_f("betaB", 5, 100, betaB_initC=1.5, betaB_finC=8.0, betaB_G=30.0, **common)
    assert (beta_b.C_init, beta_b.C_fin, beta_b.gamma) == (1.5, 8.0, 30.0)
    factor = get_loss_f("factor", 5, 100, factor_G=2.5, lr_disc=3e-3, **common)
    assert (factor.gamma, factor.optimizer_d.param_groups[0]["lr"]) == (2.5, 3e-3)
    btcvae = get_loss_f("btcvae", 5, 100, btcvae_A=-3.0, btcvae_B=7.0, btcvae_G=0.25,
                        btcvae_estimator="mws", **common)
    assert (btcvae.alpha, btcvae.beta, btcvae.gamma, btcvae.is_mss) == (-3.0, 7.0, 0.25, False)
    assert btcvae.n_data == 100
    for loss_f in (beta_b, factor, btcvae, get_loss_f("VAE", 5, 100, **common),
                   get_loss_f("betaH", 5, 100, betaH_B=3.0, **common)):
        assert (loss_f.rec_dist, loss_f.reg_anneal, loss_f.latent_dim) == ("laplace", 12, 5)


def small_model(latent_dim=2, seed=0):
    torch.manual_seed(seed)
    return init_specific_model("Burgess", (1, 32, 32), latent_dim).double()


def test_train_step_is_one_gradient_step_of_the_loss():
    """BaseLoss.train_step: with SGD, every weight moves by -lr times the gradient of the loss
    of that batch (recomputed here with the same sampling noise)."""
    data = (torch.rand(6, 1, 32, 32, generator=torch.Generator().manual_seed(0)) > 0.5).double()
    model, reference = small_model(), small_model()
    loss_f = BetaHLoss(2, beta=3.0, reg_anneal=10)
    torch.manual_seed(1)
    values = loss_f.train_step(model, data, torch.optim.SGD(model.parameters(), lr=0.1), step=4)
    torch.manual_seed(1)
    loss, expected_values = loss_f.terms(reference, data, 4)
    loss.backward()
    torch.testing.assert_close(values, expected_values)
    for got, start in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(got, start - 0.1 * start.grad)


def test_factor_vae_trains_on_four_images_and_anneals_its_tc_from_zero():
    """A batch of 4 is the smallest (two halves of 2); at step 0 of a 10-step warm-up the TC
    weight a(0) gamma is 0, so the logged objective is recon + KL although the TC is not 0."""
    model = small_model()
    loss_f = FactorKLoss(2, gamma=6.0, reg_anneal=10)
    loss_f.discriminator.double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    data = (torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(0)) > 0.5).double()
    terms = terms_of(loss_f, loss_f.train_step(model, data, optimizer, step=0))
    assert terms["tc_loss"] != 0
    assert terms["loss"] == pytest.approx(terms["recon_loss"] + terms["kl_loss"])
    with pytest.raises(ValueError, match=r"^FactorVAE needs batches of at least 4 images: "
                                         r"raise -b$"):
        loss_f.train_step(model, data[:3], optimizer, step=0)


def test_factor_vae_state_round_trips_discriminator_and_its_optimiser():
    model = small_model()
    loss_f = FactorKLoss(2, lr_disc=1e-2)
    data = (torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    loss_f.train_step(model.float(), data, torch.optim.SGD(model.parameters(), lr=0.01), 1)
    restored = FactorKLoss(2, lr_disc=1e-2)
    restored.load_state_dict(copy.deepcopy(loss_f.state_dict()))
    for got, expected in zip(restored.discriminator.parameters(),
                             loss_f.discriminator.parameters()):
        torch.testing.assert_close(got, expected)
    got_state = restored.optimizer_d.state_dict()["state"]
    expected_state = loss_f.optimizer_d.state_dict()["state"]
    assert got_state.keys() == expected_state.keys() and got_state
    for key in expected_state:
        torch.testing.assert_close(got_state[key]["exp_avg"], expected_state[key]["exp_avg"])
