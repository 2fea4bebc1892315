"""Tests for core.io.dicom via core.io.image.load_image: spacing, photometry, frames, privacy, refusals."""
from __future__ import annotations

import io

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.pixels import convert_color_space, get_decoder
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless, generate_uid

from core.io.image import (
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    UnsupportedFormatError,
    load_image,
    to_gray_u8,
)


def grey_ramp(h: int = 12, w: int = 16) -> np.ndarray:
    return (np.arange(h * w).reshape(h, w) % 256).astype(np.uint8)


def dicom_dataset(arr: np.ndarray, photometric: str = "MONOCHROME2", **attrs) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    frames, rows, cols = (arr.shape[0], *arr.shape[1:3]) if attrs.get("NumberOfFrames") else (
        1, *arr.shape[:2])
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 3 if arr.shape[-1] == 3 and arr.ndim >= 3 else 1
    if ds.SamplesPerPixel == 3:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = arr.itemsize * 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = arr.tobytes()
    for key, value in attrs.items():
        setattr(ds, key, value)
    return ds


def dicom_bytes(arr: np.ndarray, photometric: str = "MONOCHROME2", **attrs) -> bytes:
    buf = io.BytesIO()
    dicom_dataset(arr, photometric, **attrs).save_as(buf, enforce_file_format=True)
    return buf.getvalue()



# ---------------------------------------------------------------- DICOM
def test_dicom_pixel_spacing_and_safe_meta():
    arr = (np.arange(12 * 16).reshape(12, 16) * 50).astype(np.uint16)
    img = load_image(dicom_bytes(arr, Modality="MR", PixelSpacing=[0.2, 0.25]))
    assert img.format == "DICOM"
    np.testing.assert_array_equal(img.pixels, arr)
    assert img.spacing_mm == (0.2, 0.25)
    assert img.meta["modality"] == "MR" and img.meta["bit_depth"] == 16
    assert img.meta["rows"] == 12 and img.meta["cols"] == 16
    assert img.meta["transfer_syntax"] == "Explicit VR Little Endian"


def test_ultrasound_region_spacing_cm_to_mm():
    region = Dataset()
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX, region.PhysicalDeltaY = 0.015, 0.02
    img = load_image(dicom_bytes(grey_ramp(), Modality="US",
                                 SequenceOfUltrasoundRegions=[region]))
    assert img.spacing_mm == pytest.approx((0.2, 0.15))


def test_ultrasound_region_in_seconds_gives_no_spacing():
    region = Dataset()
    region.PhysicalUnitsXDirection, region.PhysicalUnitsYDirection = 4, 3  # 4 = seconds
    region.PhysicalDeltaX, region.PhysicalDeltaY = 0.001, 0.02
    img = load_image(dicom_bytes(grey_ramp(), SequenceOfUltrasoundRegions=[region]))
    assert img.spacing_mm is None


def test_monochrome1_is_inverted():
    arr = np.array([[0, 10], [200, 255]], np.uint8)
    img = load_image(dicom_bytes(arr, "MONOCHROME1"))
    np.testing.assert_array_equal(img.pixels, 255 - arr)
    assert any("MONOCHROME1" in note for note in img.meta["notes"])


def test_rescale_slope_and_intercept_applied():
    arr = np.array([[0, 1], [2, 3]], np.uint16)
    img = load_image(dicom_bytes(arr, RescaleSlope=2, RescaleIntercept=-100))
    assert img.pixels.dtype == np.float32
    np.testing.assert_array_equal(img.pixels, arr * 2.0 - 100)
    assert to_gray_u8(img).max() == 255


def test_ybr_full_becomes_rgb():
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[...] = (200, 50, 10)
    img = load_image(dicom_bytes(convert_color_space(rgb, "RGB", "YBR_FULL"), "YBR_FULL"))
    assert img.pixels.shape == (4, 4, 3)
    np.testing.assert_allclose(img.pixels[0, 0], (200, 50, 10), atol=2)


def test_multiframe_dicom_gives_first_frame():
    frames = np.stack([np.full((5, 6), v, np.uint8) for v in (7, 8, 9)])
    img = load_image(dicom_bytes(frames, NumberOfFrames=3))
    assert img.pixels.shape == (5, 6) and int(img.pixels[0, 0]) == 7
    assert img.meta["frames"] == 3
    assert any("first of 3 frames" in note for note in img.meta["notes"])


def test_dicom_meta_never_carries_patient_data():
    data = dicom_bytes(grey_ramp(), Modality="US", PatientName="Doe^Jane",
                       PatientID="PID-778899", PatientBirthDate="19800101",
                       InstitutionName="St Example Hospital", AccessionNumber="ACC-4242",
                       ReferringPhysicianName="Who^Doctor", StudyDate="20240102")
    img = load_image(data)
    text = repr(img.meta)
    for secret in ("Doe", "Jane", "PID-778899", "19800101", "St Example", "ACC-4242",
                   "Who^Doctor", "20240102"):
        assert secret not in text


def test_preamble_less_dicom_by_name_and_path(tmp_path):
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_dataset(fp, dicom_dataset(grey_ramp(), PixelSpacing=[0.5, 0.5]))
    data = fp.getvalue()
    assert data[128:132] != b"DICM"
    with pytest.raises(UnsupportedFormatError):
        load_image(data)
    img = load_image(data, name="IM0001.DCM")
    np.testing.assert_array_equal(img.pixels, grey_ramp())
    path = tmp_path / "im.dcm"
    path.write_bytes(data)
    assert load_image(path).spacing_mm == (0.5, 0.5)


def test_dicom_without_pixel_data():
    ds = dicom_dataset(grey_ramp())
    del ds.PixelData
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    with pytest.raises(CorruptImageError, match="no pixel data"):
        load_image(buf.getvalue())


def test_dicom_truncated_pixel_data():
    ds = dicom_dataset(grey_ramp())
    ds.PixelData = ds.PixelData[:10]
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    with pytest.raises(CorruptImageError, match="export it again"):
        load_image(buf.getvalue())


@pytest.mark.skipif(get_decoder(JPEGLSLossless).is_available,
                    reason="a JPEG-LS decoder is installed here")
def test_compressed_dicom_without_decoder_says_what_to_do():
    ds = dicom_dataset(grey_ramp())
    ds.file_meta.TransferSyntaxUID = JPEGLSLossless
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7 not really jpeg-ls"])
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    with pytest.raises(UnsupportedFormatError, match="export it uncompressed") as info:
        load_image(buf.getvalue())
    assert "JPEG-LS" in str(info.value) and "pylibjpeg" in str(info.value)


def test_dicom_too_large():
    with pytest.raises(ImageTooLargeError, match="limit of 50"):
        load_image(dicom_bytes(grey_ramp()), max_pixels=50)


def test_corrupt_dicom_header():
    data = dicom_bytes(grey_ramp())
    with pytest.raises(ImageError):
        load_image(data[:140])
