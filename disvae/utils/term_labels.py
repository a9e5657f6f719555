"""Readable names of the logged loss terms, for the terminal, the charts and TensorBoard.

The objectives log their terms under short keys (`recon_loss`, `kl_loss_3`, `tc_loss`, ...;
see `disvae.models.losses`); this table is the one place that says what each key means, in a
long form for figure legends and a short one for the progress bar, and which panel of the loss
curves shows it. A key it does not know keeps its own name.
"""
import re

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
}
TERM_FAMILIES = {  # logged term: panel of the loss curves
    "loss": "objective",
    "recon_loss": "reconstruction",
    "kl_loss": "KL and its decomposition",
    "mi_loss": "KL and its decomposition",
    "tc_loss": "KL and its decomposition",
    "dw_kl_loss": "KL and its decomposition",
    "discrim_loss": "discriminator",
}
PER_LATENT_FAMILY = "KL of each latent"
# terms shown while training, in this order (per-latent KLs are left to the logs and charts)
WATCHED_TERMS = ("loss", "recon_loss", "kl_loss", "mi_loss", "tc_loss", "dw_kl_loss",
                 "discrim_loss", "capacity")


def term_label(name):
    """The label of a logged term in figures: "KL of latent 3" for kl_loss_3."""
    match = PER_LATENT_KL.fullmatch(name)
    if match:
        return f"KL of latent {match.group(1)}"
    return TERM_LABELS.get(name, (name,))[0]


def term_family(name):
    """The panel of the loss curves that shows a logged term (its own name if unknown)."""
    return PER_LATENT_FAMILY if PER_LATENT_KL.fullmatch(name) else TERM_FAMILIES.get(name, name)


def short_term_label(name):
    """The label of a logged term on one terminal line: "KL3" for kl_loss_3, "TC" ..."""
    match = PER_LATENT_KL.fullmatch(name)
    if match:
        return f"KL{match.group(1)}"
    return TERM_LABELS.get(name, (name, name))[1]


def watched_terms(names):
    """The terms of `names` shown while training, in the order of WATCHED_TERMS."""
    return [name for name in WATCHED_TERMS if name in names]
