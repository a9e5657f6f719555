"""DIP-VAE-I and DIP-VAE-II of Kumar, Sattigeri & Balakrishnan 2018 ("Variational Inference
of Disentangled Latent Concepts from Unlabeled Observations", ICLR), the maths in
disvae/models/dip_loss.py.

Both add to rec + KL a penalty on a covariance matrix C of the codes (eqs. 6 and 7):
lambda_od sum_{i != j} C_ij^2 + lambda_d sum_i (C_ii - 1)^2, with C = Cov_p(x)[mu(x)] for
DIP-VAE-I and C = Cov_q(z)[z] = E_p(x)[Sigma(x)] + Cov_p(x)[mu(x)] for DIP-VAE-II.

Defaults: lambda_od = 10, the middle of the sweep {1, 2, 5, 10, 20, 50} of
disentanglement_lib's published unsupervised study (Locatello et al. 2019,
config/unsupervised_study_v1/sweep.py, also the value of its model tests), and lambda_d =
lambda_d_factor * lambda_od with that study's factors: 10 for DIP-VAE-I (lambda_d = 100)
and 1 for DIP-VAE-II (lambda_d = 10).
"""
from disvae.objectives import Hyperparameter, Objective

PANEL = "DIP covariance penalty"


def dip_objective(name, title, implementation, lambda_d):
    return Objective(
        name=name, title=title, paper="Kumar, Sattigeri & Balakrishnan 2018",
        formula="rec + KL + a(t) [lambda_od sum_{i!=j} C_ij^2 + lambda_d sum_i (C_ii - 1)^2]",
        implementation=implementation,
        hyperparameters=(
            Hyperparameter(f"{name}_od", float, 10.0,
                           f"weight of the off-diagonal covariance penalty of {title}",
                           symbol="lambda_od", keyword="lambda_od"),
            Hyperparameter(f"{name}_d", float, lambda_d,
                           f"weight of the diagonal covariance penalty of {title}",
                           symbol="lambda_d", keyword="lambda_d")),
        terms={"dip_loss": PANEL})


OBJECTIVES = [
    dip_objective("dipI", "DIP-VAE-I", "disvae.models.dip_loss:DipILoss", lambda_d=100.0),
    dip_objective("dipII", "DIP-VAE-II", "disvae.models.dip_loss:DipIILoss", lambda_d=10.0),
]
