"""ComBat feature harmonization (Johnson et al. 2007) with a reference batch, as the paper does with the
smooth-kernel, high-dose renditions: neuroCombat 0.2.12 (pinned; the ComBat that neuroHarmonize builds on,
without neuroHarmonize's numpy<2 pin). Its reference-batch path still uses ``np.int``, an alias NumPy 2
removed, so the call runs with that alias restored for its duration."""
from __future__ import annotations

import numpy as np


def combat(features: np.ndarray, batches: list[str], reference: str, subjects: list[str] | None = None) -> np.ndarray:
    """Harmonize ``features`` (n_samples, n_features) across ``batches`` toward ``reference``; ``subjects``
    (e.g. phantom ids) is kept as a categorical covariate so that true differences between subjects stay."""
    import pandas as pd
    from neuroCombat import neuroCombat

    covars = pd.DataFrame({"batch": batches})
    categorical = None
    if subjects is not None and len(set(subjects)) > 1:
        covars["subject"] = subjects
        categorical = ["subject"]
    had_alias = hasattr(np, "int")
    if not had_alias:
        np.int = int
    try:
        out = neuroCombat(dat=np.asarray(features, dtype=float).T, covars=covars, batch_col="batch",
                          categorical_cols=categorical, ref_batch=reference)
    finally:
        if not had_alias:
            del np.int
    return np.asarray(out["data"]).T
