"""The TorchScript harmonizer over every series (CUDA when present, else CPU)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from monai.deploy.core import Fragment

from .harmonize import LoadedModel, harmonize_volume, load_model
from .jobs_operator import JobsOperator

if TYPE_CHECKING:
    from .series_job import SeriesJob

log = logging.getLogger(__name__)


class HarmonizerOperator(JobsOperator):
    """Sets ``job.harmonized_hu`` and ``job.model``. The model is loaded (sha256 checked) at the first series.
    A series the domain gate refused is not harmonized (``job.model`` is still set: its report names it)."""

    def __init__(self, fragment: Fragment, *args, model_path: Path, **kwargs):
        self.model_path = Path(model_path)
        self._model: LoadedModel | None = None
        super().__init__(fragment, *args, **kwargs)

    def process(self, job: SeriesJob) -> None:
        model = self._model
        if model is None:
            model = self._model = load_model(self.model_path)
            log.info("model %s %s on %s", model.card["name"], model.card["version"], model.device)
        job.model = model.info
        if job.rejection is None:
            assert job.mtf2d is not None, "the MTF stage runs before the harmonizer"
            job.harmonized_hu = harmonize_volume(model, job.volume_hu, job.mtf2d, job.orientation)
