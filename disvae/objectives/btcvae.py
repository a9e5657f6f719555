"""beta-TCVAE of Chen et al. 2018 (eq. 4): rec + alpha MI + beta TC + a(t) gamma DWKL."""
from disvae.objectives import Hyperparameter, Objective

DECOMPOSITION = "KL and its decomposition"

OBJECTIVES = [Objective(
    name="btcvae", title="beta-TCVAE", paper="Chen et al. 2018",
    formula="rec + alpha MI + beta TC + a(t) gamma DWKL",
    implementation="disvae.models.losses:BtcvaeLoss",
    hyperparameters=(
        Hyperparameter("btcvae_A", float, 1.0, "weight of the MI term (alpha) of beta-TCVAE",
                       symbol="alpha", keyword="alpha"),
        Hyperparameter("btcvae_G", float, 1.0,
                       "weight of the dimension-wise KL term (gamma) of beta-TCVAE",
                       symbol="gamma", keyword="gamma"),
        Hyperparameter("btcvae_B", float, 6.0, "weight of the TC term (beta) of beta-TCVAE",
                       symbol="beta", keyword="beta"),
        Hyperparameter("btcvae_estimator", str, "mss",
                       "minibatch stratified or weighted sampling for log q(z)",
                       symbol="estimator", keyword="is_mss", choices=("mss", "mws"),
                       to_argument=lambda name: name == "mss")),
    terms={"mi_loss": DECOMPOSITION, "tc_loss": DECOMPOSITION, "dw_kl_loss": DECOMPOSITION},
    context=("n_data",))]
