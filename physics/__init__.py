"""Shared CT physics: MTF from edges, noise (SD, NPS), body and lung masks. Plain numpy/scipy functions."""
