"""The TorchScript harmonizer over every series (CUDA when present, else CPU)."""
from __future__ import annotations

import logging
from pathlib import Path

from monai.deploy.core import Fragment, Operator, OperatorSpec

from .harmonize import harmonize_volume, load_model

log = logging.getLogger(__name__)


class HarmonizerOperator(Operator):
    """Input/output ``jobs``: sets ``job.harmonized_hu`` and ``job.model``. The model is loaded (and its
    sha256 checked) once, at the first compute."""

    def __init__(self, fragment: Fragment, *args, model_path: Path, **kwargs):
        self.model_path = Path(model_path)
        self._model = None
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec):
        spec.input("jobs")
        spec.output("jobs")

    def compute(self, op_input, op_output, context):
        jobs = op_input.receive("jobs")
        if self._model is None:
            self._model = load_model(self.model_path)
            log.info("model %s %s on %s", self._model.card["name"], self._model.card["version"], self._model.device)
        for job in jobs:
            job.harmonized_hu = harmonize_volume(self._model, job.volume_hu, job.mtf2d, job.orientation)
            job.model = self._model.info
        op_output.emit(jobs, "jobs")
