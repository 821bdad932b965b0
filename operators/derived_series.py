"""The derived (harmonized) CT series: DICOM objects built from the source slices in one place.

Each output slice is a CT Image Storage instance made from its source slice's dataset: patient, study, frame
of reference, position, orientation, PixelSpacing and SliceThickness are the source's own values; private
tags, icons, overlays and pixel-statistics attributes are dropped; pixel data are int16 HU (slope 1,
intercept 0). It is marked as derived: ImageType DERIVED\\SECONDARY\\AXIAL, a new SeriesInstanceUID and
SOPInstanceUIDs, SeriesDescription "... harmonized", DerivationDescription and DerivationCodeSequence naming
the model, SourceImageSequence per slice, ReferencedSeriesSequence, ContributingEquipmentSequence.

UIDs are derived (``2.25.<sha256>``) from the source UIDs and the model's sha256: the same input and model
always give the same UIDs, a different model different ones.

Writing is all or nothing: files go to a hidden temporary folder in the output folder, which is renamed to
``<derived SeriesInstanceUID>`` when complete (an older folder of that name is replaced whole).
"""
from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, CTImageStorage, ExplicitVRLittleEndian

from common.atomic_folder import write_folder
from common.dicom import HU_RANGE, hashed_uid

from .conformance import repair

APP_NAME = "CT Harmonizer"
APP_VERSION = "0.4.5"
HARMONIZED_BY = f"Harmonized by {APP_NAME}"     # how DerivationDescription begins: the app's own outputs
PIXEL_DATA = 0x7FE00010
DROP = ("IconImageSequence", "SmallestImagePixelValue", "LargestImagePixelValue", "PixelPaddingValue",
        "PixelPaddingRangeLimit", "SmallestPixelValueInSeries", "LargestPixelValueInSeries",
        "DerivationCodeSequence", "SourceImageSequence", "ReferencedImageSequence", "ReferencedSeriesSequence",
        "ContributingEquipmentSequence", "DerivationDescription", "LossyImageCompressionRatio",
        "LossyImageCompressionMethod", "RequestAttributesSequence", "ReferencedPerformedProcedureStepSequence",
        "ImageComments", "DataSetTrailingPadding")


def derived_uid(*parts: str) -> str:
    """The app's UIDs: hashed from ``parts`` (the source object's UID, ``uid_basis``, the object's kind)."""
    return hashed_uid("|".join(parts))


def uid_basis(model: dict, mtf: dict | None = None, note: str | None = None) -> str:
    """Everything beside its source that determines a derived object, as one string its UIDs are hashed from:
    the app's version, the model's sha256, the format it ran in and its arithmetic (float32 on the CPU, the
    autocast type on CUDA), the MTF input (its source and f50) and the derivation note (a series harmonized
    outside the model's domain). The same input through the same app, model and options gives the same UIDs;
    anything that could change the output gives new ones, so that a PACS never holds two contents under one UID."""
    parts = [APP_VERSION, str(model["sha256"]), str(model.get("format", "torchscript")),
             str(model.get("precision", "float32"))]
    if mtf is not None:
        parts += [str(mtf.get("source")), str(mtf.get("f50_per_mm"))]
    return "|".join(parts + ([note] if note else []))


def header_copy(ds: Dataset) -> Dataset:
    """A deep copy of ``ds`` without its pixel data."""
    return Dataset({tag: copy.deepcopy(elem) for tag, elem in ds.items() if tag != PIXEL_DATA})


def _code_item(code) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code.value, code.scheme_designator, code.meaning
    return item


def _clip_lo(text: str, n: int = 64) -> str:
    return text if len(text) <= n else text[: n - 1] + "~"


def derived_datasets(sources: list, harmonized_hu: np.ndarray, model: dict, mtf_source: str,
                     now: datetime | None = None, note: str | None = None, padding: np.ndarray | None = None,
                     padding_hu: float | None = None, repairs: list | None = None,
                     basis: str | None = None) -> Iterator[Dataset]:
    """One derived dataset per source slice (same order), made as it is asked for (a writer holds one slice's
    dataset at a time, not the series). ``model``: name, version, sha256. ``note``: appended to the
    DerivationDescription (a series harmonized outside the model's validated domain says so there).
    ``padding`` (K, rows, cols) and ``padding_hu``: the source's pixel padding, written back as PixelPaddingValue
    in the derived series' stored values (HU). Each dataset is made valid where its source was not
    (``conformance.repair``); ``repairs`` receives the first slice's repairs. ``basis``: what the UIDs are
    derived from beside the source UIDs (``uid_basis``; default: the model's alone)."""
    now = now or datetime.now()
    first = sources[0]
    basis = basis or uid_basis(model, note=note)
    series_uid = derived_uid(str(first.SeriesInstanceUID), basis)
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    pad_value = None
    if padding is not None and padding_hu is not None:
        pad_value = int(np.clip(np.rint(padding_hu), -32768, 32767))
    derivation = (f"{HARMONIZED_BY} {APP_VERSION} with model {model['name']} {model['version']} "
                  f"(sha256 {model['sha256']}); MTF input {mtf_source}" + (f"; {note}" if note else ""))
    for index, (src, pixels) in enumerate(zip(sources, harmonized_hu)):
        ds = header_copy(src)
        ds.remove_private_tags()
        for keyword in DROP:
            if keyword in ds:
                delattr(ds, keyword)
        for tag in [t for t in ds.keys() if 0x60000000 <= int(t) < 0x60FF0000]:   # overlays
            del ds[tag]
        sop_uid = derived_uid(str(src.SOPInstanceUID), basis)
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop_uid
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = (int(first.get("SeriesNumber", 0) or 0) % 1000) + 9000
        ds.SeriesDescription = _clip_lo(f"{src.get('SeriesDescription', 'CT')} harmonized")
        ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
        ds.InstanceNumber = index + 1
        ds.SeriesDate = ds.ContentDate = ds.InstanceCreationDate = date
        ds.SeriesTime = ds.ContentTime = ds.InstanceCreationTime = time
        ds.DerivationDescription = _clip_lo(derivation, 1024)
        ds.DerivationCodeSequence = Sequence([_code_item(codes.DCM.ImageProcessing)])
        source_item = Dataset()
        source_item.ReferencedSOPClassUID, source_item.ReferencedSOPInstanceUID = src.SOPClassUID, src.SOPInstanceUID
        source_item.PurposeOfReferenceCodeSequence = Sequence(
            [_code_item(codes.DCM.SourceImageForImageProcessingOperation)])
        ds.SourceImageSequence = Sequence([source_item])
        # Common Instance Reference: the instances this one references (its source slice), by series
        ref_instance = Dataset()
        ref_instance.ReferencedSOPClassUID, ref_instance.ReferencedSOPInstanceUID = src.SOPClassUID, src.SOPInstanceUID
        ref_series = Dataset()
        ref_series.SeriesInstanceUID = first.SeriesInstanceUID
        ref_series.ReferencedInstanceSequence = Sequence([ref_instance])
        ds.ReferencedSeriesSequence = Sequence([ref_series])
        equipment = Dataset()
        equipment.Manufacturer = APP_NAME
        equipment.ManufacturerModelName = _clip_lo(model["name"])
        equipment.SoftwareVersions = [APP_VERSION, _clip_lo(model["version"])]
        equipment.ContributionDateTime = now.strftime("%Y%m%d%H%M%S")
        equipment.ContributionDescription = _clip_lo(derivation, 1024)
        equipment.PurposeOfReferenceCodeSequence = Sequence([_code_item(codes.DCM.ProcessingEquipment)])
        ds.ContributingEquipmentSequence = Sequence([equipment])
        # pixels: int16 HU, clipped to the CT range
        stored = np.clip(np.rint(pixels), *HU_RANGE).astype(np.int16)
        if pad_value is not None and padding is not None:
            stored[padding[index]] = pad_value
            ds.add_new("PixelPaddingValue", "SS", pad_value)
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = stored.shape
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "HU"
        if "NumberOfFrames" in ds:
            del ds.NumberOfFrames
        ds.PixelData = stored.tobytes()
        ds["PixelData"].VR = "OW"
        notes = repair(ds, str(first.SeriesInstanceUID))
        if index == 0 and repairs is not None:
            repairs.extend(notes)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = UID(sop_uid)
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds.file_meta = meta
        yield ds


def write_series(datasets: Iterable[Dataset], out_root: Path, extra_files: dict[str, bytes] | None = None,
                 after=None) -> Path:
    """Write a whole series (plus ``extra_files``) to ``out_root/<SeriesInstanceUID>/`` all or nothing;
    ``datasets`` may be a generator (its first dataset names the folder). ``after(headers)``, given the
    written datasets without their pixel data, returns more DICOM objects by file name, written in the same
    folder before it appears (the series' SEG, SR and SC)."""
    rest = iter(datasets)
    first = next(rest)

    def fill(folder: Path) -> None:
        headers = []
        for i, ds in enumerate(itertools.chain([first], rest)):
            ds.save_as(folder / f"CT{i + 1:05d}.dcm", enforce_file_format=True)
            del ds.PixelData
            headers.append(ds)
        for name, data in (extra_files or {}).items():
            (folder / name).write_bytes(data)
        for name, obj in (after(headers) if after else {}).items():
            obj.save_as(folder / name, enforce_file_format=True)

    return write_folder(Path(out_root) / str(first.SeriesInstanceUID), fill)
