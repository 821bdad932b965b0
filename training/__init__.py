"""Companion package: the harmonizer networks, their training and export to TorchScript (the app only loads
the exported file)."""
