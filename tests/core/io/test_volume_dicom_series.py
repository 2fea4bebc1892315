"""Tests for core.io.dicom_series (through core.io.volume.load_volume): sorting, geometry, checks, privacy."""
from __future__ import annotations

import io
import logging
import zipfile

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

import core.io.dicom_series as dicom_module
from core.io.dicom_series import load_dicom_series
from core.io.image import CorruptImageError, ImageError, ImageTooLargeError, UnsupportedFormatError
from core.io.nifti import write_nifti
from core.io.volume import (
    MissingSlicesError,
    MixedSeriesError,
    VolumeError,
    WrongModalityError,
    load_volume,
)

SPACING = (3.0, 0.8, 0.9)  # display (slice, row, col) mm
STORED = np.random.default_rng(0).permutation(6 * 4 * 5).reshape(6, 4, 5).astype(np.uint16) + 100
SLOPES = (1.0, 2.0, 1.0, 0.5, 1.0, 2.0)
RESCALED = STORED * np.array(SLOPES, np.float32)[:, None, None] - 100  # display array, slice by slice
ORIGIN = np.array([-2.0, -1.5, 40.0])  # LPS mm of the first voxel of the lowest slice
SECRETS = ("SECRET", "PATIENT", "ID-12345", "19700101", "Hospital")


def mr_slice(pixels: np.ndarray, position, *, iop=(1, 0, 0, 0, 1, 0), pixel_spacing=(0.8, 0.9),
             series: str = "1.2.3.4", **attrs) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID, ds.MagneticFieldStrength = "MR", series, 3
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "SECRET^PATIENT", "ID-12345", "19700101"
    ds.InstitutionName, ds.StudyDate = "St Secret Hospital", "20240101"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation = 15, 0
    ds.ImageOrientationPatient = list(iop)
    if position is not None:
        ds.ImagePositionPatient = [float(v) for v in position]
    ds.PixelSpacing = list(pixel_spacing)
    ds.SliceThickness, ds.RepetitionTime, ds.EchoTime = 2.5, 500, 15
    ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint16).tobytes()
    for key, value in attrs.items():
        setattr(ds, key, value)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def axial_series(skip: int | None = None, **attrs) -> list[tuple[str, bytes]]:
    """The six RESCALED slices, in shuffled file order with scrambled InstanceNumbers."""
    files = []
    for k in range(6):
        if k != skip:
            position = ORIGIN + (0, 0, SPACING[0] * k)
            data = mr_slice(STORED[k], position, RescaleSlope=SLOPES[k], RescaleIntercept=-100,
                            InstanceNumber=(k * 5) % 6 + 1, **attrs)
            files.append((f"SECRET_PATIENT_{k:02d}.dcm", data))
    order = np.random.default_rng(3).permutation(len(files))
    return [files[i] for i in order]


def zipped(files, extra=(), compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in [*files, *extra]:
            zf.writestr(f"study/series 1/{name}" if name.endswith(".dcm") else name, data)
    return buf.getvalue()


# ---------------------------------------------------------------- assembly
def test_series_is_sorted_by_position_with_rescale_and_spacing():
    vol = load_volume(axial_series(), expect_modality="MR")
    assert vol.format == "DICOM series" and vol.voxels.dtype == np.float32
    np.testing.assert_array_equal(vol.voxels, RESCALED)
    assert vol.spacing_mm == SPACING  # 3.0 from positions, not SliceThickness 2.5
    assert vol.source_axcodes == ("L", "P", "S") and vol.source_shape == (5, 4, 6)
    np.testing.assert_allclose(vol.affine[:3, 3], ORIGIN * (-1, -1, 1))  # LPS -> RAS
    np.testing.assert_allclose(vol.affine[:3, :3], np.diag([-0.9, -0.8, 3.0]))
    assert vol.meta["slices"] == 6 and vol.meta["modality"] == "MR"
    assert vol.meta["slice_thickness"] == 2.5 and vol.meta["echo_time"] == 15.0


def test_series_equals_the_same_volume_as_nifti(tmp_path):
    path = tmp_path / "same.nii.gz"
    write_nifti(path, RESCALED, SPACING, dtype=np.float32)
    nifti, series = load_volume(path), load_volume(axial_series())
    np.testing.assert_array_equal(series.voxels, nifti.voxels)
    assert series.spacing_mm == nifti.spacing_mm


def test_coronal_series_of_the_same_anatomy_gives_the_same_display():
    """Coronal slices: rows run superior->inferior, slices anterior->posterior."""
    files = []
    for m in range(STORED.shape[1]):
        top_left = ORIGIN + (0, SPACING[1] * m, SPACING[0] * (STORED.shape[0] - 1))
        files.append(("c.dcm", mr_slice(STORED[::-1, m, :], top_left, iop=(1, 0, 0, 0, 0, -1),
                                        pixel_spacing=(SPACING[0], SPACING[2]))))
    vol = load_volume(files[::-1])
    np.testing.assert_array_equal(vol.voxels, STORED)
    assert vol.spacing_mm == SPACING


def test_zip_with_subfolder_and_readme_loads_with_a_note():
    data = zipped(axial_series(), extra=[("README.txt", b"exported by a viewer"),
                                         ("DICOMDIR", b"\x00" * 300)])
    vol = load_volume(data)
    np.testing.assert_array_equal(vol.voxels, RESCALED)
    assert any("2 of 8 files skipped" in note for note in vol.meta["notes"])


def test_missing_positions_fall_back_to_instance_number():
    files = [(f"{k}.dcm", mr_slice(STORED[k], None, InstanceNumber=k + 1)) for k in (3, 0, 5, 1, 4, 2)]
    vol = load_dicom_series(files)
    np.testing.assert_array_equal(vol.voxels, STORED)
    assert vol.spacing_mm is None and any("InstanceNumber" in n for n in vol.meta["notes"])


def test_single_dicom_slice_is_a_one_slice_volume():
    vol = load_volume(mr_slice(STORED[0], ORIGIN, RescaleSlope=2, RescaleIntercept=-100))
    assert vol.format == "DICOM" and vol.voxels.shape == (1, 4, 5)
    np.testing.assert_array_equal(vol.voxels[0], STORED[0] * 2.0 - 100)
    assert vol.spacing_mm == (2.5, 0.8, 0.9)  # SliceThickness is all a lone slice has
    assert vol.meta["modality"] == "MR" and vol.meta["slices"] == 1


# ---------------------------------------------------------------- refusals
def test_two_series_are_refused():
    files = axial_series()
    files[0] = ("x.dcm", mr_slice(STORED[0], ORIGIN, series="9.9.9"))
    with pytest.raises(MixedSeriesError, match="2 series"):
        load_volume(files)


def test_different_image_sizes_are_refused():
    files = [*axial_series(), ("x.dcm", mr_slice(np.zeros((8, 8)), ORIGIN + (0, 0, 18)))]
    with pytest.raises(MixedSeriesError, match="image size"):
        load_volume(files)


def test_duplicate_positions_are_refused():
    files = [*axial_series(), ("x.dcm", mr_slice(STORED[2], ORIGIN + (0, 0, 6)))]
    with pytest.raises(MixedSeriesError, match="share one position"):
        load_volume(files)


def test_missing_middle_slice_is_named_by_position():
    with pytest.raises(MissingSlicesError) as info:
        load_volume(axial_series(skip=3))
    assert "between slice 3 and 4: 6.0 mm against 3.0 mm elsewhere; 1 slice appears to be missing" \
        in str(info.value)


def test_ct_series_when_mr_expected():
    with pytest.raises(WrongModalityError, match="series is CT.*expects MR"):
        load_volume(axial_series(Modality="CT"), expect_modality="MR")
    with pytest.raises(WrongModalityError, match="image is CT"):
        load_volume(mr_slice(STORED[0], ORIGIN, Modality="CT"), expect_modality="MR")
    assert load_volume(axial_series(Modality="CT")).meta["modality"] == "CT"  # no expectation


def test_too_many_voxels_and_zip_limits(monkeypatch):
    with pytest.raises(ImageTooLargeError, match="limit of 100"):
        load_volume(axial_series(), max_voxels=100)
    monkeypatch.setattr(dicom_module, "MAX_MEMBERS", 3)
    with pytest.raises(ImageTooLargeError, match="6 files"):
        load_volume(zipped(axial_series()))
    monkeypatch.setattr(dicom_module, "MAX_MEMBERS", 2000)
    monkeypatch.setattr(dicom_module, "MAX_UNPACKED", 1000)
    with pytest.raises(ImageTooLargeError, match="unpacks to"):
        load_volume(zipped(axial_series()))


@pytest.mark.filterwarnings("ignore:End of file reached:UserWarning")  # pydicom on the broken file
@pytest.mark.parametrize("files", [[], [("a", b"")], [("a", b"not dicom at all")],
                                   [("a", b"\x00" * 128 + b"DICM" + b"\xff" * 40)],
                                   [("a", mr_slice(STORED[0], ORIGIN)[:300])]],
                         ids=["none", "empty", "text", "broken DICM", "cut before pixels"])
def test_no_usable_dicom_is_an_image_error(files):
    with pytest.raises((UnsupportedFormatError, CorruptImageError), match="upload|export"):
        load_volume(files)


def test_truncated_pixel_data_is_a_corrupt_image():
    files = axial_series()
    files[2] = (files[2][0], files[2][1][:-7])
    with pytest.raises(CorruptImageError, match="export"):
        load_volume(files)


def test_orderless_slices_are_refused():
    files = [("a", mr_slice(STORED[k], None)) for k in range(2)]
    with pytest.raises(VolumeError, match="order is unknown"):
        load_volume(files)


# ---------------------------------------------------------------- privacy
def _bad_crc_zip() -> bytes:
    data = bytearray(zipped(axial_series()[:1], compression=zipfile.ZIP_STORED))
    data[data.index(b"SECRET_PATIENT") + 400] ^= 0xFF  # inside the member's bytes
    with pytest.raises(zipfile.BadZipFile, match="SECRET_PATIENT"):  # zipfile itself names the member
        with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
            zf.read(zf.namelist()[0])
    return bytes(data)


def test_patient_data_and_file_names_never_leak(caplog):
    caplog.set_level(logging.DEBUG)
    vol = load_volume(zipped(axial_series(), extra=[("README.txt", b"x")]), expect_modality="MR")
    messages = [repr(vol.meta), caplog.text]
    failing = [lambda: load_volume(axial_series(skip=2)),
               lambda: load_volume([*axial_series(), ("SECRET_PATIENT_99.dcm",
                                                       mr_slice(STORED[0], ORIGIN, series="7"))]),
               lambda: load_volume(axial_series(Modality="CT"), expect_modality="MR"),
               lambda: load_volume([("SECRET_PATIENT_01.dcm", axial_series()[0][1][:300])]),
               lambda: load_volume(_bad_crc_zip())]
    for call in failing:
        with pytest.raises(ImageError) as info:
            call()
        messages.append(str(info.value))
    messages.append(caplog.text)
    for text in messages:
        for secret in SECRETS:
            assert secret not in text, text


def test_a_zip_of_files_that_are_not_dicom_is_refused_without_parsing_them() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(1900):
            zf.writestr(f"IM{i:04d}", bytes(64 * 1024))  # zeros: a forced parse takes minutes
    with pytest.raises(UnsupportedFormatError, match="1900 of 1900 files skipped: not DICOM images"):
        load_volume(buf.getvalue(), name="series.zip", expect_modality="MR")


def _understated_zip(inflated: int, stated: int = 1000) -> bytes:
    """A zip whose one member says it holds ``stated`` bytes but whose data inflates to ``inflated``;
    it starts like a DICOM file (preamble, "DICM", a file meta tag), so the reader reads past its head."""
    import struct
    import zlib

    head = bytes(128) + b"DICM\x02\x00"
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    cdata = comp.compress(head) + comp.compress(bytes(inflated - len(head))) + comp.flush()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("IM0001", bytes(stated))
    raw = bytearray(buf.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(raw))).infolist()[0]
    n, crc = len(info.filename), zlib.crc32(head + bytes(stated - len(head)))
    local = bytearray(raw[:30 + n])
    struct.pack_into("<III", local, 14, crc, len(cdata), stated)
    central = bytearray(raw[30 + n + info.compress_size:])
    struct.pack_into("<III", central, 16, crc, len(cdata), stated)
    struct.pack_into("<I", central, central.rfind(b"PK\x05\x06") + 16, len(local) + len(cdata))
    return bytes(local) + cdata + bytes(central)


def test_a_member_understating_its_size_is_not_inflated_in_memory() -> None:
    import tracemalloc

    from core.io.dicom_series import dicom_files_from_zip

    bomb = _understated_zip(64 << 20)  # 64 MiB behind a header that says 1000 bytes
    tracemalloc.start()
    try:
        files = dicom_files_from_zip(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [len(d) for _, d in files] == [1000]
    assert peak < 8 << 20, f"{peak / 2**20:.0f} MiB held while reading a 1000-byte member"


def test_members_that_do_not_start_like_dicom_are_not_inflated() -> None:
    import tracemalloc

    from core.io.dicom_series import dicom_files_from_zip

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k in range(200):
            zf.writestr(f"IM{k:04d}", bytes(250_000))  # 50 MB of zeros in a 50 KB zip
    tracemalloc.start()
    try:
        files = dicom_files_from_zip(buf.getvalue())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(files) == 200 and {len(d) for _, d in files} == {134}  # each member's head only
    assert peak < 8 << 20, f"{peak / 2**20:.0f} MiB held for 200 non-DICOM members"


def test_dicom_shape_needs_the_file_meta_group_after_the_preamble() -> None:
    from core.io.dicom_series import dicom_shaped

    assert dicom_shaped(bytes(128) + b"DICM\x02\x00")
    assert not dicom_shaped(bytes(128) + b"DICM" + bytes(2))  # "DICM" then filler
    assert dicom_shaped(b"\x08\x00\x05\x00") and not dicom_shaped(bytes(200))


def test_a_series_slow_to_parse_is_refused_at_the_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.io import dicom_series

    monkeypatch.setattr(dicom_series, "READ_SECONDS", -1.0)  # already past it at the first file
    filler = [(f"IM{k}", bytes(128) + b"DICM\x02\x00" + bytes(64)) for k in range(3)]
    with pytest.raises(ImageTooLargeError, match="reading stopped after -1 s at file 1 of 3"):
        dicom_series.load_dicom_series(filler)
