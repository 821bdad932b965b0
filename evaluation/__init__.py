"""Companion package: the paper's evaluation of harmonizers on held-out virtual phantoms."""
