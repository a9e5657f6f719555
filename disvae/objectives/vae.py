"""Plain VAE (Kingma & Welling 2014): rec + a(t) KL."""
from disvae.objectives import Objective

OBJECTIVES = [Objective(
    name="VAE", title="VAE", paper="Kingma & Welling 2014",
    formula="rec + a(t) KL", implementation="disvae.models.losses:VAELoss")]
