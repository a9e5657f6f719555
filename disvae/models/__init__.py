"""Burgess encoder/decoder, the VAE around them, the FactorVAE discriminator and the losses."""
