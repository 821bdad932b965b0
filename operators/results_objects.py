"""The results a PACS shows beside the derived series: the lung segmentation, the TID 1500 measurement report
and the QA figure, as DICOM objects (highdicom).

- **SEG** (``lung_segmentation``): the lung mask the biomarkers were measured in, one binary segment (category
  Anatomical Structure, type Lung, SCT), referencing the derived series' instances.
- **SR** (``measurement_report``): a Comprehensive 3D SR holding a TID 1500 Measurement Report with two
  volumetric measurement groups, the input series and the derived series, each referencing the SEG segment
  and holding LAA-950 (%), Perc15 (HU), lung volume (ml) and mass (g), noise SD (HU) and MTF f50 and f10
  (/mm, with its source) in UCUM units; the model (name, version, sha256) as the group's algorithm, and the
  consistency guard's and domain gate's verdicts as qualitative evaluations. Concepts without a DCM or SCT code
  use this app's coding scheme ``99CTHARM`` (``CODES``).
- **SC** (``qa_capture``): report.png as a Secondary Capture image, in the study.

A series whose source states no SliceThickness gets the SC only (``results_to_write``), and its report
says why.

Their UIDs are derived like the series' ones (source series UID, model sha256, app version, object kind).
"""
from __future__ import annotations

import io

import numpy as np
from pydicom.sr.codedict import codes

SCHEME = "99CTHARM"
CODES = {        # this app's concepts that DCM and SCT do not code (the scheme is documented in docs/results.md)
    "laa950": ("LAA950", "Low attenuation area below -950 HU"),
    "perc15": ("PERC15", "15th percentile of lung density"),
    "noise": ("NOISESD", "Image noise standard deviation"),
    "f50": ("MTF50", "Frequency at 50 % modulation transfer"),
    "f10": ("MTF10", "Frequency at 10 % modulation transfer"),
    "guard": ("GUARD", "Consistency guard verdict"),
    "domain": ("DOMAIN", "Validated domain verdict"),
    "passed": ("PASS", "Passed"),
    "failed": ("FAIL", "Failed"),
    "input": ("INPUT", "Input series"),
    "derived": ("HARMONIZED", "Harmonized series"),
}
SERIES_OFFSETS = {"seg": 1000, "sr": 2000, "sc": 3000}     # added to the derived series' number


def code(key: str):
    import highdicom as hd

    value, meaning = CODES[key]
    return hd.sr.CodedConcept(value, SCHEME, meaning)


def _unit(value: str, meaning: str):
    import highdicom as hd

    return hd.sr.CodedConcept(value, "UCUM", meaning)


def _series_number(derived, kind: str) -> int:
    return int(derived.SeriesNumber or 0) % 1000 + SERIES_OFFSETS[kind]


def _equipment(app_name: str, app_version: str) -> dict:
    return {"manufacturer": app_name, "manufacturer_model_name": app_name, "software_versions": app_version,
            "device_serial_number": "0"}


def lung_segmentation(derived: list, lungs: np.ndarray, series_uid: str, sop_uid: str, model: dict,
                      app_name: str, app_version: str):
    """A binary SEG of ``lungs`` (K, rows, cols) over the derived series' datasets (same order); highdicom
    orders its frames and states each one's position."""
    import highdicom as hd

    algorithm = hd.AlgorithmIdentificationSequence(name=f"{app_name} lung mask", version=app_version,
                                                   family=codes.cid7162.HistogramAnalysis)
    segment = hd.seg.SegmentDescription(
        segment_number=1, segment_label="Lungs",
        segmented_property_category=codes.SCT.AnatomicalStructure, segmented_property_type=codes.SCT.Lung,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=algorithm)
    return hd.seg.Segmentation(
        source_images=derived, pixel_array=np.asarray(lungs, bool).astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=[segment],
        series_instance_uid=series_uid, series_number=_series_number(derived[0], "seg"), sop_instance_uid=sop_uid,
        instance_number=1, series_description=f"{str(derived[0].get('SeriesDescription', ''))[:40]} lungs",
        omit_empty_frames=False, **_equipment(app_name, app_version))


def _group(label: str, which: str, series_uid: str, seg, lung: dict, noise: float | None, mtf: dict | None,
           algorithm, evaluations: list):
    import highdicom as hd

    measurements = []

    def add(concept, value, unit, method=None):
        if value is None or not np.isfinite(value):
            return
        measurements.append(hd.sr.Measurement(name=concept, value=float(value), unit=unit, method=method,
                                              algorithm_id=algorithm))

    lung = lung or {}
    add(code("laa950"), lung.get("laa950_percent"), _unit("%", "Percent"))
    add(code("perc15"), lung.get("perc15_hu"), _unit("[hnsf'U]", "Hounsfield unit"))
    add(codes.SCT.Volume, lung.get("lung_volume_ml"), _unit("ml", "milliliter"))
    add(codes.SCT.Mass, lung.get("lung_mass_g"), _unit("g", "gram"))
    add(code("noise"), noise, _unit("[hnsf'U]", "Hounsfield unit"))
    if mtf:
        source = hd.sr.CodedConcept(str(mtf.get("source", "measured")).upper()[:16], SCHEME,
                                    f"MTF {mtf.get('source', 'measured')}")
        add(code("f50"), mtf.get("f50_per_mm"), _unit("/mm", "per millimeter"), source)
        add(code("f10"), mtf.get("f10_per_mm"), _unit("/mm", "per millimeter"), source)
    segment = hd.sr.ReferencedSegment(
        sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID, segment_number=1,
        source_series=hd.sr.SourceSeriesForSegmentation(series_uid))
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=None, identifier=label), referenced_segment=segment,
        finding_type=codes.SCT.Lung, measurements=measurements, qualitative_evaluations=evaluations or None,
        finding_category=code(which))


def measurement_report(sources: list, derived: list, seg, report: dict, series_uid: str, sop_uid: str,
                       app_name: str, app_version: str):
    """The TID 1500 report of ``report`` (report.json's dict) over the input ``sources`` and ``derived``."""
    import highdicom as hd

    model = report["model"]
    algorithm = hd.sr.AlgorithmIdentification(name=str(model["name"]), version=str(model["version"]),
                                              parameters=[f"sha256 {model['sha256']}"])
    guard = report.get("guard") or {}
    domain = report.get("domain") or {}
    evaluations = [hd.sr.QualitativeEvaluation(code("guard"), code("passed" if guard.get("passed") else "failed"))]
    if domain:
        evaluations.append(hd.sr.QualitativeEvaluation(code("domain"),
                                                       code("passed" if domain.get("inside") else "failed")))
    lung = report["lung"]
    groups = [
        _group("lungs of the input series", "input", str(sources[0].SeriesInstanceUID), seg, lung.get("input"),
               report["noise_sd_hu"]["input"], report["mtf_input"], None, []),
        _group("lungs of the harmonized series", "derived", str(derived[0].SeriesInstanceUID), seg,
               lung.get("output"), report["noise_sd_hu"]["output"], report["mtf_output"], algorithm, evaluations),
    ]
    context = hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=series_uid, name=app_name, manufacturer_name=app_name, model_name=app_version)))
    content = hd.sr.MeasurementReport(observation_context=context, procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
                                      imaging_measurements=groups)
    return hd.sr.Comprehensive3DSR(
        evidence=list(sources) + list(derived) + [seg], content=content[0], series_instance_uid=series_uid,
        series_number=_series_number(derived[0], "sr"), sop_instance_uid=sop_uid, instance_number=1,
        manufacturer=app_name, is_complete=True,
        series_description=f"{str(derived[0].get('SeriesDescription', ''))[:40]} measurements")


def qa_capture(derived_first, png: bytes, series_uid: str, sop_uid: str, app_name: str, shown=None):
    """report.png as a Secondary Capture image of the derived series' patient and study, referencing the
    derived slice it shows (``shown``, ReferencedImageSequence)."""
    import highdicom as hd
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=derived_first, pixel_array=rgb, photometric_interpretation="RGB", bits_allocated=8,
        coordinate_system="PATIENT", series_instance_uid=series_uid,
        series_number=_series_number(derived_first, "sc"), sop_instance_uid=sop_uid, instance_number=1,
        manufacturer=app_name, patient_orientation=("L", "P"),
        series_description=f"{str(derived_first.get('SeriesDescription', ''))[:40]} QA")
    if shown is not None:
        from pydicom.dataset import Dataset
        from pydicom.sequence import Sequence

        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = shown.SOPClassUID, shown.SOPInstanceUID
        sc.ReferencedImageSequence = Sequence([item])
    if "Laterality" not in sc and not sc.get("BodyPartExamined"):
        sc.add_new("Laterality", "CS", None)       # Type 2C: required unless the body part is known to be unpaired
    return sc


RESULT_FILES = ("SEG.dcm", "SR.dcm", "SC.dcm")


def results_to_write(sources: list, kinds: set) -> tuple[set, dict]:
    """Of the results asked for (``kinds``: "seg", "sr", "sc"), those that can be made valid over ``sources``,
    and why each other is not written (by file kind). A SEG's Pixel Measures need the slices' thickness
    (SliceThickness, Type 1C there), which a CT may leave empty (Type 2): the app never invents it, so such a
    series gets no SEG, and no SR, whose measurement groups reference the SEG's segment."""
    kinds = set(kinds)
    if kinds & {"seg", "sr"} and any(not str(ds.get("SliceThickness", "") or "").strip() for ds in sources):
        why = ("the source series states no SliceThickness (empty or absent), which a Segmentation's Pixel "
               "Measures require: no SEG, and no SR, which references its segment")
        return kinds - {"seg", "sr"}, {"SEG": why, "SR": why}
    return kinds, {}


def results_files(sources: list, derived: list, lungs: np.ndarray, report: dict, png: bytes, model: dict,
                  uid, app_name: str, app_version: str) -> dict[str, object]:
    """The three objects of one derived series, by file name; ``uid(kind)`` gives each one's UIDs."""
    seg = lung_segmentation(derived, lungs, uid("seg series"), uid("seg"), model, app_name, app_version)
    sr = measurement_report(sources, derived, seg, report, uid("sr series"), uid("sr"), app_name, app_version)
    sc = qa_capture(derived[0], png, uid("sc series"), uid("sc"), app_name, shown=derived[len(derived) // 2])
    return dict(zip(RESULT_FILES, (seg, sr, sc)))
