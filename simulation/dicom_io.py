"""Writing a simulated acquisition as a DICOM CT Image Storage series (what the virtual scanner exports).

Every UID derives from the phantom seed (and the rendition for series-level UIDs), and dates are fixed, so
the same seed writes byte-identical files; all renditions of one phantom share its StudyInstanceUID and
FrameOfReferenceUID. Pixel data are signed 16-bit, HU = stored - 1024, clipped to [-1024, 3071] as a
12-bit scanner does. The series is written to a hidden temporary folder and renamed into place.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from common.atomic_folder import write_folder
from common.dicom import HU_RANGE, hashed_uid

from .geometry import FORCE, ScannerGeometry
from .kernels import Kernel

CTDI_PER_100MAS = 6.5  # mGy CTDIvol(32 cm) per 100 mAs at 120 kVp, Force-like
STUDY_DATE = "20260101"


def _uid(*parts) -> str:
    """Deterministic UID hashed from ``parts``, under the simulator's own prefix."""
    return hashed_uid("\x1f".join(["ct-harmonizer-sim", *map(str, parts)]))


def study_uids(seed: int) -> dict[str, str]:
    return {"study": _uid("study", seed), "frame": _uid("frame", seed)}


def series_datasets(volume_hu: np.ndarray, z_mm: np.ndarray, seed: int, kernel: Kernel, dose_mgy: float,
                    series_number: int, geom: ScannerGeometry = FORCE) -> list[Dataset]:
    uids = study_uids(seed)
    series_uid = _uid("series", seed, kernel.name, dose_mgy)
    mas = 100.0 * dose_mgy / CTDI_PER_100MAS
    px = geom.pixel_mm
    first = -geom.recon_field_mm / 2 + px / 2
    out = []
    for i, (img, z) in enumerate(zip(volume_hu, z_mm), start=1):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        sop_uid = _uid("sop", seed, kernel.name, dose_mgy, i)
        ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.ImplementationClassUID = _uid("implementation")
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = STUDY_DATE
        ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = "120000"
        ds.AccessionNumber = f"SIM{seed:06d}"
        ds.Modality = "CT"
        ds.Manufacturer = "CT Harmonizer virtual imaging platform"
        ds.ManufacturerModelName = "Force-like simulator"
        ds.InstitutionName = "Virtual"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = "Virtual chest CT"
        ds.SeriesDescription = f"Chest {dose_mgy:g} mGy {kernel.name}"
        ds.PatientName = f"Phantom^{seed:04d}"
        ds.PatientID = f"PHANTOM-{seed:04d}"
        ds.PatientBirthDate = ""
        ds.PatientSex = "O"
        ds.BodyPartExamined = "CHEST"
        ds.SliceThickness = f"{geom.slice_thickness_mm:g}"
        ds.KVP = f"{geom.kvp:g}"
        ds.DataCollectionDiameter = f"{geom.fov_mm:g}"
        ds.ReconstructionDiameter = f"{geom.recon_field_mm:g}"
        ds.DistanceSourceToDetector = f"{geom.source_detector_mm:g}"
        ds.DistanceSourceToPatient = f"{geom.source_iso_mm:g}"
        ds.GantryDetectorTilt = "0"
        ds.TableHeight = "150"
        ds.RotationDirection = "CW"
        ds.ExposureTime = "500"
        ds.XRayTubeCurrent = str(int(round(mas / 0.5)))
        ds.Exposure = str(int(round(mas)))
        ds.CTDIvol = float(dose_mgy)
        phantom = Dataset()
        phantom.CodeValue, phantom.CodingSchemeDesignator = "113691", "DCM"
        phantom.CodeMeaning = "IEC Body Dosimetry Phantom"
        ds.CTDIPhantomTypeCodeSequence = [phantom]
        ds.ConvolutionKernel = kernel.dicom_kernel if len(kernel.dicom_kernel) > 1 else kernel.dicom_kernel[0]
        ds.PatientPosition = "HFS"
        ds.StudyInstanceUID = uids["study"]
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = f"{seed}"
        ds.SeriesNumber = series_number
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = i
        ds.ImagePositionPatient = [f"{first:.6f}", f"{first:.6f}", f"{z:.6f}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.FrameOfReferenceUID = uids["frame"]
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = f"{z:.6f}"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = img.shape[0]
        ds.PixelSpacing = [f"{px:.7f}", f"{px:.7f}"]
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter = "-600"
        ds.WindowWidth = "1500"
        stored = (np.clip(np.rint(img), *HU_RANGE) + 1024).astype(np.int16)
        ds.PixelData = stored.tobytes()
        out.append(ds)
    return out


def write_series(datasets: list[Dataset], folder: Path) -> Path:
    """Write datasets as ``CT.<instance>.dcm`` into ``folder``, all or nothing (see operators.atomic_folder)."""
    def fill(tmp: Path) -> None:
        for ds in datasets:
            ds.save_as(tmp / f"CT.{int(ds.InstanceNumber):04d}.dcm", enforce_file_format=True)

    return write_folder(folder, fill)
