"""FactorVAE of Kim & Mnih 2018 (eq. 2, algorithm 2): rec + KL + a(t) gamma TC, the TC from
the log-odds of a discriminator trained on the other half of every batch."""
from disvae.objectives import Hyperparameter, Objective

OBJECTIVES = [Objective(
    name="factor", title="FactorVAE", paper="Kim & Mnih 2018",
    formula="rec + KL + a(t) gamma TC, TC from a discriminator's log-odds",
    implementation="disvae.models.losses:FactorKLoss",
    hyperparameters=(
        Hyperparameter("factor_G", float, 6.0, "weight of the TC term of FactorVAE",
                       symbol="gamma", keyword="gamma"),
        Hyperparameter("lr_disc", float, 5e-5,
                       "learning rate of the FactorVAE discriminator",
                       symbol="lr_disc", keyword="lr_disc", positive=True)),
    terms={"tc_loss": "KL and its decomposition", "discrim_loss": "discriminator"},
    context=("device",), trains_discriminator=True)]
