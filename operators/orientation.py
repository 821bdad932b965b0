"""The usual axial view of a stored volume: rows stored bottom-up or columns right-to-left are flipped so that
the network and the MTF measurement see every series the same way, whatever its ImageOrientationPatient."""
from __future__ import annotations

import numpy as np


def canonical_flips(orientation) -> tuple[bool, bool]:
    """(flip rows, flip columns) that bring an axial slice to the usual view: rows along +x (patient's left
    to the image's right), columns along +y (anterior at the top)."""
    iop = np.asarray(orientation, dtype=float)
    return bool(iop[4] < 0), bool(iop[0] < 0)


def canonical_view(volume: np.ndarray, orientation) -> np.ndarray:
    """``(K, rows, cols)`` in the usual view (a numpy view, no copy); applying it twice gives the volume back."""
    flip_r, flip_c = canonical_flips(orientation)
    if flip_r:
        volume = volume[:, ::-1]
    if flip_c:
        volume = volume[:, :, ::-1]
    return volume
