"""Write a display-orientation volume as an anonymous MR DICOM series, zipped, in memory.

For the bundled samples and tests: what an anonymised axial export from a scanner looks like
(one file per slice, Image Position / Orientation Patient, Pixel Spacing, rescale slope and
intercept), so the DICOM series path of :mod:`core.io.dicom_series` is exercised on real files.
"""
from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid


def phantom_dataset(sop_class: str, modality: str, entropy: str) -> Dataset:
    """An anonymous phantom DICOM dataset with its file meta (Explicit VR Little Endian).

    The instance UID is derived from ``entropy`` so that re-making a sample rewrites identical
    bytes; the patient is "Phantom^Synthetic", as an anonymised export would name nobody.
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[entropy])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientName, ds.PatientID = modality, "Phantom^Synthetic", "PHANTOM"
    return ds


def mr_slice(pixels: np.ndarray, index: int, spacing_mm: Sequence[float], series_uid: str,
             seed: str) -> bytes:
    """One axial MR slice (HxW uint16) at height ``index * slice spacing`` as DICOM bytes.

    Display rows run anterior -> posterior and columns right -> left, which in DICOM's LPS
    patient axes is a row direction (1, 0, 0) and a column direction (0, 1, 0).
    """
    ds = phantom_dataset(MRImageStorage, "MR", f"{seed}-{index}")
    ds.SeriesInstanceUID, ds.StudyInstanceUID = series_uid, generate_uid(entropy_srcs=[f"{seed}-study"])
    ds.SeriesDescription = "synthetic T1 post-contrast-like phantom"
    ds.InstanceNumber = index + 1
    z, row, col = (float(s) for s in spacing_mm)
    h, w = pixels.shape
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [-(w - 1) / 2 * col, -(h - 1) / 2 * row, index * z]
    ds.PixelSpacing = [row, col]
    ds.SliceThickness = z
    ds.Rows, ds.Columns = h, w
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def series_zip(volume: np.ndarray, spacing_mm: Sequence[float], seed: str = "medimg-sample") -> bytes:
    """A ZxHxW uint16 display-orientation volume as a zip of one DICOM file per slice."""
    series_uid = generate_uid(entropy_srcs=[f"{seed}-series"])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for z in range(volume.shape[0]):
            info = zipfile.ZipInfo(f"series/IM{z + 1:04d}.dcm", date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, mr_slice(volume[z], z, spacing_mm, series_uid, seed))
    return buf.getvalue()
