"""Readable names of the logged loss terms, for the terminal, the charts and TensorBoard.

The objectives log their terms under short keys (`recon_loss`, `kl_loss_3`, `tc_loss`, ...;
see `disvae.models.losses`); this table is the one place that says what each key means, in a
long form for figure legends and a short one for the progress bar, and which panel of the loss
curves shows it (the panels come from the objectives' declarations). A key it does not know
keeps its own name.
"""
import re

from disvae.objectives import term_panels

PER_LATENT_KL = re.compile(r"kl_loss_(\d+)$")
TERM_LABELS = {  # logged term: (label in figures, short label in the terminal)
    "loss": ("objective (loss minimised)", "loss"),
    "recon_loss": ("reconstruction", "rec"),
    "kl_loss": ("KL to the prior", "KL"),
    "mi_loss": ("index-code mutual information", "MI"),
    "tc_loss": ("total correlation", "TC"),
    "dw_kl_loss": ("dimension-wise KL", "dwKL"),
    "discrim_loss": ("discriminator loss", "D"),
    "capacity": ("capacity C (nats)", "C"),
    "dip_loss": ("DIP covariance penalty", "DIP"),
}
PER_LATENT_FAMILY = "KL of each latent"
# terms shown while training, in this order (per-latent KLs are left to the logs and charts)
WATCHED_TERMS = ("loss", "recon_loss", "kl_loss", "mi_loss", "tc_loss", "dw_kl_loss",
                 "discrim_loss", "dip_loss", "capacity")


def term_label(name):
    """The label of a logged term in figures: "KL of latent 3" for kl_loss_3."""
    match = PER_LATENT_KL.fullmatch(name)
    if match:
        return f"KL of latent {match.group(1)}"
    return TERM_LABELS.get(name, (name,))[0]


def term_family(name):
    """The panel of the loss curves that shows a logged term, as the objectives declare it
    (disvae.objectives; its own name if none does)."""
    return PER_LATENT_FAMILY if PER_LATENT_KL.fullmatch(name) else term_panels().get(name, name)


def short_term_label(name):
    """The label of a logged term on one terminal line: "KL3" for kl_loss_3, "TC" ..."""
    match = PER_LATENT_KL.fullmatch(name)
    if match:
        return f"KL{match.group(1)}"
    return TERM_LABELS.get(name, (name, name))[1]


def watched_terms(names):
    """The terms of `names` shown while training, in the order of WATCHED_TERMS."""
    return [name for name in WATCHED_TERMS if name in names]
