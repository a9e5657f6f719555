"""beta-VAE of Higgins et al. 2017 (eq. 4): rec + a(t) beta KL."""
from disvae.objectives import Hyperparameter, Objective

OBJECTIVES = [Objective(
    name="betaH", title="beta-VAE (Higgins et al.)", paper="Higgins et al. 2017",
    formula="rec + a(t) beta KL", implementation="disvae.models.losses:BetaHLoss",
    hyperparameters=(
        Hyperparameter("betaH_B", float, 4.0, "beta of beta-VAE (Higgins et al.)",
                       symbol="beta", keyword="beta"),))]
