"""Burgess encoder/decoder, the VAE around them, the FactorVAE discriminator and the losses.

MODEL_NAMES, the architectures `init_specific_model` builds (disvae.models.vae.MODELS), is
here without torch so that the command line can offer them before loading it.
"""
MODEL_NAMES = ("Burgess",)
