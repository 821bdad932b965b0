"""The MONAI Deploy application: DICOM study in, harmonized derived CT series (+ QA report) out.

    DICOMLoader -> DICOMSeriesSelector -> SeriesVolumes -> MTF -> DomainGate -> Harmonizer -> Guard
        -> QAReport -> DerivedSeriesWriter [-> PACSSender, with --send-to and/or --stow-url]

The domain gate refuses a series outside the domain the model's card states (unless ``outside_domain``); the
guard refuses a harmonized series that does not explain its input. A refused series gets its report in
``OUT/rejected/<source SeriesInstanceUID>/`` and no DICOM.

The loader reads a staged folder that holds only the eligible series' files (``operators.study_scan``,
run by ``app.__main__`` before the graph starts, so that bad input fails fast with nothing written).
"""
from __future__ import annotations

import json
from pathlib import Path

from monai.deploy.conditions import CountCondition
from monai.deploy.core import Application
from monai.deploy.operators.dicom_series_selector_operator import DICOMSeriesSelectorOperator

from operators.derived_series_writer_operator import DerivedSeriesWriterOperator
from operators.dicom_loader_operator import DICOMLoaderOperator
from operators.domain_gate_operator import DomainGateOperator
from operators.guard_operator import GuardOperator
from operators.harmonizer_operator import HarmonizerOperator
from operators.mtf_operator import MTFOperator
from operators.pacs_sender_operator import PACSSenderOperator
from operators.qa_report_operator import QAReportOperator
from operators.series_volume_operator import SeriesVolumesOperator

# The study scan has already kept only eligible series; the SDK's selector states the same rule in its own
# terms and takes every match. Not the axial orientation: the SDK's orientation rule needs PatientPosition,
# a Type 2C attribute that real series lack (a TCIA CT has none), and the scan has checked the orientation.
SELECTION_RULES = json.dumps({"selections": [{
    "name": "primary axial CT",
    "conditions": {"Modality": "(?i)^CT$", "ImageType": ["PRIMARY", "!LOCALIZER", "!SECONDARY"]},
}]})


class CTHarmonizerApp(Application):
    def __init__(self, staged_input: Path, output_folder: Path, model_path: Path, send: dict | None = None,
                 outside_domain: bool = False, outputs: set | None = None):
        self.staged_input, self.output_folder = Path(staged_input), Path(output_folder)
        self.model_path = Path(model_path)
        self.send = send or {}          # node (DicomNode), calling_aet, stow_url: optional PACS delivery
        self.outside_domain = outside_domain
        self.outputs = {"seg", "sr", "sc"} if outputs is None else set(outputs)    # DICOM results per series
        self.sender = None
        super().__init__([])

    def compose(self):
        loader = DICOMLoaderOperator(self, CountCondition(self, 1), input_folder=self.staged_input,
                                         name="dicom_loader")
        selector = DICOMSeriesSelectorOperator(self, rules=SELECTION_RULES, all_matched=True, name="series_selector")
        self.volumes = volumes = SeriesVolumesOperator(self, name="series_to_volume")
        mtf = MTFOperator(self, name="mtf")
        gate = DomainGateOperator(self, model_path=self.model_path, allow_outside=self.outside_domain,
                                  name="domain_gate")
        harmonizer = HarmonizerOperator(self, model_path=self.model_path, name="harmonizer")
        guard = GuardOperator(self, model_path=self.model_path, name="guard")
        report = QAReportOperator(self, name="qa_report")
        self.writer = DerivedSeriesWriterOperator(self, output_folder=self.output_folder, results=self.outputs,
                                                  name="derived_series_writer")

        self.add_flow(loader, selector, {("dicom_study_list", "dicom_study_list")})
        self.add_flow(selector, volumes, {("study_selected_series_list", "study_selected_series_list")})
        self.add_flow(volumes, mtf, {("jobs", "jobs")})
        self.add_flow(mtf, gate, {("jobs", "jobs")})
        self.add_flow(gate, harmonizer, {("jobs", "jobs")})
        self.add_flow(harmonizer, guard, {("jobs", "jobs")})
        self.add_flow(guard, report, {("jobs", "jobs")})
        self.add_flow(report, self.writer, {("jobs", "jobs")})
        if self.send.get("node") or self.send.get("stow_url"):
            self.sender = PACSSenderOperator(self, name="pacs_sender", **self.send)
            self.add_flow(self.writer, self.sender, {("series_folders", "series_folders")})
