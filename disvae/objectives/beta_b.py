"""Capacity-controlled beta-VAE of Burgess et al. 2018 (eq. 8): rec + gamma |KL - C(t)|."""
from disvae.objectives import Hyperparameter, Objective

OBJECTIVES = [Objective(
    name="betaB", title="beta-VAE (Burgess et al.)", paper="Burgess et al. 2018",
    formula="rec + gamma abs(KL - C(t)), C growing linearly from C_init to C_fin",
    implementation="disvae.models.losses:BetaBLoss",
    hyperparameters=(
        Hyperparameter("betaB_initC", float, 0.0,
                       "starting capacity C (nats) of beta-VAE (Burgess et al.)",
                       symbol="C_init", keyword="C_init"),
        Hyperparameter("betaB_finC", float, 25.0, "final capacity C (nats)",
                       symbol="C_final", keyword="C_fin"),
        Hyperparameter("betaB_G", float, 100.0, "gamma of beta-VAE (Burgess et al.)",
                       symbol="gamma", keyword="gamma")))]
