"""The domain gate: each series measured against the domain the model's card states, before the network."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from monai.deploy.core import Fragment

from physics import domain

from .harmonize import read_card
from .input_measures import input_lungs, input_noise
from .jobs_operator import JobsOperator

if TYPE_CHECKING:
    from .series_job import SeriesJob

log = logging.getLogger(__name__)


def gate(job: SeriesJob, card_domain: dict | None, allow_outside: bool) -> None:
    """Set ``job.domain`` (measured values, checks, verdict) and, for a series outside the domain that the
    user did not ask to harmonize anyway (``--outside-domain``), ``job.rejection``. After the MTF stage."""
    assert job.mtf is not None, "the MTF stage runs before the domain gate"
    measured = domain.measure(job.volume_hu, input_lungs(job), job.spacing_mm, job.datasets[0], job.mtf,
                              input_noise(job)["sd_hu"], job.slice_geometry["slice_thickness_mm"])
    checks = domain.check(card_domain, measured)
    inside, line = domain.verdict(checks)
    job.domain = {"inside": inside, "verdict": line, "measured": measured,
                  "checks": {c.name: c.to_json() for c in checks},
                  "harmonized_outside_domain": bool(not inside and allow_outside),
                  "lungs_in_field": measured["lung_fraction"] >= (card_domain or {}).get(
                      "min_lung_fraction", domain.MIN_LUNG_FRACTION)}
    if not inside and not allow_outside:
        job.rejection = f"{line} (--outside-domain harmonizes it anyway)"


class DomainGateOperator(JobsOperator):
    """Sets ``job.domain``, and ``job.rejection`` for a series outside the model's domain."""

    def __init__(self, fragment: Fragment, *args, model_path: Path, allow_outside: bool = False, **kwargs):
        self.card_domain = read_card(Path(model_path)).get("domain")
        self.allow_outside = allow_outside
        super().__init__(fragment, *args, **kwargs)

    def process(self, job: SeriesJob) -> None:
        gate(job, self.card_domain, self.allow_outside)
        log.info("%s: %s", job.label, (job.domain or {}).get("verdict"))
