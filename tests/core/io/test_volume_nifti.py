"""Tests for core.io.nifti and core.io.volume: NIfTI in any voxel order, display orientation, writing back."""
from __future__ import annotations

import gzip
import io
import zlib

import nibabel as nib
import numpy as np
import pytest
from nibabel.orientations import aff2axcodes
from PIL import Image

import core.io.nifti as nifti_module
from core.io.image import ImageError, ImageTooLargeError
from core.io.nifti import read_nifti, to_nifti_bytes, write_nifti
from core.io.volume import DISPLAY_AXCODES, VolumeError, load_volume
from core.io.volume_types import reorient_to_display

SPACING = (3.0, 0.8, 0.9)  # display (slice, row, col) mm
DISPLAY = np.random.default_rng(0).permutation(6 * 4 * 5).reshape(6, 4, 5).astype(np.float32)
# Source layouts of the same anatomy: source axis i holds display axis PERM[i], reversed if FLIP[i].
LAYOUTS = {("R", "A", "S"): ((2, 1, 0), (True, True, False)),
           ("L", "P", "S"): ((2, 1, 0), (False, False, False)),
           ("P", "S", "R"): ((1, 0, 2), (False, False, True)),
           ("L", "A", "I"): ((2, 1, 0), (False, True, True))}


def display_affine() -> np.ndarray:
    """RAS world of display index (z, row, col): z goes up, rows go back, cols go to the left."""
    affine = np.zeros((4, 4))
    affine[2, 0], affine[1, 1], affine[0, 2] = SPACING[0], -SPACING[1], -SPACING[2]
    affine[:, 3] = (10.0, -20.0, 30.0, 1.0)
    return affine


def source_layout(display: np.ndarray, codes: tuple[str, str, str]) -> tuple[np.ndarray, np.ndarray]:
    """``display`` stored in another voxel order, with the affine that keeps its anatomy."""
    perm, flips = LAYOUTS[codes]
    data, index_map = display.transpose(perm), np.zeros((4, 4))
    index_map[3, 3] = 1.0
    for axis, (dst, flip) in enumerate(zip(perm, flips)):
        index_map[dst, axis] = -1.0 if flip else 1.0
        if flip:
            data = np.flip(data, axis)
            index_map[dst, 3] = display.shape[dst] - 1
    return np.ascontiguousarray(data), display_affine() @ index_map


def nifti_bytes(data: np.ndarray, affine: np.ndarray, *, gz: bool = False, klass=nib.Nifti1Image,
                header=None) -> bytes:
    img = klass(data, affine, header=header)
    img.set_qform(affine, code=1)
    raw = img.to_bytes()
    return gzip.compress(raw) if gz else raw


def rotation(degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])


# ---------------------------------------------------------------- same anatomy -> same display
@pytest.mark.parametrize("gz", [False, True], ids=["nii", "nii.gz"])
@pytest.mark.parametrize("codes", list(LAYOUTS), ids="".join)
def test_any_voxel_order_gives_the_same_display(codes, gz):
    data, affine = source_layout(DISPLAY, codes)
    assert aff2axcodes(affine) == codes  # the helper builds what it says
    vol = load_volume(nifti_bytes(data.astype(np.int16), affine, gz=gz))
    assert vol.format == "NIfTI"
    assert vol.voxels.dtype == np.float32 and vol.voxels.flags.c_contiguous
    np.testing.assert_array_equal(vol.voxels, DISPLAY)
    assert vol.spacing_mm == SPACING
    assert vol.voxel_volume_ml == pytest.approx(3.0 * 0.8 * 0.9 / 1000)
    assert vol.source_axcodes == codes and vol.source_shape == data.shape
    np.testing.assert_allclose(vol.affine, affine, atol=1e-5)
    np.testing.assert_array_equal(vol.to_source(vol.voxels), data)  # exact inverse


def test_slightly_oblique_affine_gives_the_same_display():
    data, affine = source_layout(DISPLAY, ("P", "S", "R"))
    vol = load_volume(nifti_bytes(data, rotation(10) @ affine))
    np.testing.assert_array_equal(vol.voxels, DISPLAY)
    assert vol.spacing_mm == pytest.approx(SPACING)
    np.testing.assert_array_equal(vol.to_source(vol.voxels), data)


@pytest.mark.parametrize("codes", list(LAYOUTS), ids="".join)
def test_display_orientation_is_anatomically_right(codes):
    """The voxel nearest the right-anterior-superior corner lands at high z, low row, low col."""
    _, affine = source_layout(DISPLAY, codes)
    shape = source_layout(DISPLAY, codes)[0].shape
    data = np.zeros(shape, np.uint8)
    index = np.indices(shape).reshape(3, -1)
    world = affine[:3, :3] @ index + affine[:3, 3:]  # RAS mm: +x right, +y anterior, +z superior
    corner = index[:, np.argmax(world.sum(axis=0))]
    data[tuple(corner)] = 1
    vol = load_volume(nifti_bytes(data, affine))
    z, row, col = np.unravel_index(np.argmax(vol.voxels), vol.voxels.shape)
    assert (z, row, col) == (vol.voxels.shape[0] - 1, 0, 0)


def test_reorient_to_display_reports_spacing_and_transform():
    data, affine = source_layout(DISPLAY, ("R", "A", "S"))
    display, spacing, transform = reorient_to_display(data, affine)
    np.testing.assert_array_equal(display, DISPLAY)
    assert spacing == SPACING and transform.shape == (3, 2)


# ---------------------------------------------------------------- writing back
@pytest.mark.parametrize("codes", [("R", "A", "S"), ("P", "S", "R")], ids="".join)
def test_to_nifti_bytes_lands_on_the_original_grid(codes):
    data, affine = source_layout(DISPLAY, codes)
    vol = load_volume(nifti_bytes(data, affine, gz=True))
    mask = (vol.voxels > np.median(vol.voxels)).astype(np.uint8)
    out = to_nifti_bytes(mask, vol)
    img = nib.Nifti1Image.from_bytes(gzip.decompress(out))
    assert img.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asarray(img.dataobj), source_layout(mask, codes)[0])
    np.testing.assert_allclose(img.affine, affine, atol=1e-5)
    np.testing.assert_array_equal(load_volume(out).voxels, mask)
    plain = to_nifti_bytes(mask, vol, gz=False, dtype=np.int16)
    assert plain[344:348] == b"n+1\x00"
    np.testing.assert_array_equal(load_volume(plain).voxels, mask)


def test_to_source_refuses_another_shape():
    vol = load_volume(nifti_bytes(*source_layout(DISPLAY, ("L", "P", "S"))))
    with pytest.raises(VolumeError, match="display shape"):
        vol.to_source(np.zeros((2, 2, 2)))


def test_write_nifti_is_lps_and_centred(tmp_path):
    path = tmp_path / "phantom.nii.gz"
    write_nifti(path, DISPLAY, SPACING, dtype=np.int16)
    img = nib.load(path)
    assert aff2axcodes(img.affine) == ("L", "P", "S")
    np.testing.assert_array_equal(np.asarray(img.dataobj), DISPLAY.transpose(2, 1, 0))
    centre = img.affine @ np.append((np.array(img.shape) - 1) / 2, 1)
    np.testing.assert_allclose(centre[:3], 0, atol=1e-5)
    vol = load_volume(path, expect_modality="MR")  # by path, gzipped; NIfTI states no modality
    np.testing.assert_array_equal(vol.voxels, DISPLAY)
    assert vol.spacing_mm == SPACING and DISPLAY_AXCODES == ("S", "P", "L")


# ---------------------------------------------------------------- header variants
@pytest.mark.parametrize("variant", ["nifti2", "big-endian"])
def test_nifti2_and_big_endian_headers(variant):
    data, affine = source_layout(DISPLAY, ("R", "A", "S"))
    if variant == "nifti2":
        raw = nifti_bytes(data, affine, klass=nib.Nifti2Image)
        assert raw[4:8] == b"n+2\x00"
    else:
        raw = nifti_bytes(data, affine, header=nib.Nifti1Header(endianness=">"))
        assert raw[:4] == (348).to_bytes(4, "big")
    vol = load_volume(raw, name="upload.bin")  # recognised by content, not name
    np.testing.assert_array_equal(vol.voxels, DISPLAY)
    assert vol.meta["nifti_version"] == (2 if variant == "nifti2" else 1)


def test_four_d_takes_channel_zero_with_a_note():
    data, affine = source_layout(DISPLAY, ("R", "A", "S"))
    stack = np.stack([data + 1000 * c for c in range(3)], axis=-1)
    vol = read_nifti(nifti_bytes(stack, affine, gz=True))
    np.testing.assert_array_equal(vol.voxels, DISPLAY)
    assert any("3 channels" in note and "channel 0" in note for note in vol.meta["notes"])
    assert vol.source_shape == data.shape and vol.meta["shape"] == stack.shape
    np.testing.assert_array_equal(load_volume(nifti_bytes(stack, affine), channel=2).voxels,
                                  DISPLAY + 2000)
    with pytest.raises(VolumeError, match="channel 3"):
        read_nifti(nifti_bytes(stack, affine), channel=3)


def test_nan_voxels_become_zero_with_a_note():
    data = np.ones((3, 3, 3), np.float32)
    data[1, 1, 1] = np.nan
    vol = load_volume(nifti_bytes(data, np.eye(4)))
    assert np.isfinite(vol.voxels).all() and vol.voxels.sum() == 26
    assert any("NaN" in note for note in vol.meta["notes"])


def test_nifti_meta_never_copies_free_text_fields():
    img = nib.Nifti1Image(np.zeros((2, 2, 2), np.uint8), np.eye(4))
    img.header["descrip"] = b"SECRET^PATIENT ID-12345"
    img.header["aux_file"] = b"SECRET"
    vol = load_volume(img.to_bytes())
    assert "SECRET" not in repr(vol.meta) and "12345" not in repr(vol.meta)


# ---------------------------------------------------------------- 2-D images, limits, refusals
def test_uint16_png_is_a_one_slice_volume():
    arr = (np.arange(12 * 16).reshape(12, 16) * 300).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    vol = load_volume(memoryview(buf.getvalue()))
    assert vol.format == "PNG" and vol.voxels.shape == (1, 12, 16) and vol.voxels.dtype == np.float32
    np.testing.assert_array_equal(vol.voxels[0], arr)
    assert vol.spacing_mm is None and vol.voxel_volume_ml is None
    assert vol.source_shape == (16, 12, 1)
    np.testing.assert_array_equal(vol.to_source(vol.voxels)[:, :, 0], arr.T)


def test_rgb_png_becomes_luminance():
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    vol = load_volume(buf.getvalue())
    np.testing.assert_allclose(vol.voxels, 200 * 0.299, rtol=1e-6)
    assert any("luminance" in note for note in vol.meta["notes"])


def test_too_many_voxels():
    with pytest.raises(ImageTooLargeError, match="limit of 100"):
        load_volume(nifti_bytes(DISPLAY, np.eye(4)), max_voxels=100)


def test_gzip_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(nifti_module, "MAX_UNPACKED", 10_000)
    with pytest.raises(ImageTooLargeError, match="expands to over"):
        load_volume(gzip.compress(nifti_bytes(np.zeros((30, 30, 30), np.uint8), np.eye(4))))


def _corrupt_inputs() -> dict[str, bytes]:
    good = nifti_bytes(DISPLAY, np.eye(4))
    pair = bytearray(good)
    pair[344:348] = b"ni1\x00"
    return {"empty": b"", "random": np.random.default_rng(1).bytes(2000),
            "truncated nii": good[:600], "header only": good[:352],
            "truncated gz": gzip.compress(good)[:200], "gz of random": gzip.compress(b"x" * 500),
            "not gzip after magic": b"\x1f\x8b" + b"\x00" * 50, "hdr/img pair": bytes(pair),
            "zip junk": b"PK\x03\x04" + b"\x00" * 100, "text": b"hello, this is a README",
            "zlib stream": zlib.compress(b"abc" * 100)}


@pytest.mark.parametrize("name", list(_corrupt_inputs()))
def test_damaged_or_unknown_input_raises_an_image_error(name):
    with pytest.raises(ImageError) as info:
        load_volume(_corrupt_inputs()[name])
    assert type(info.value).__name__.endswith("Error") and info.value.__class__ is not ImageError
    assert any(hint in str(info.value) for hint in ("upload", "again", "convert"))  # says what to do


def test_named_nii_with_other_content_is_an_image_error():
    with pytest.raises(ImageError, match="not a NIfTI"):
        load_volume(b"\x00" * 400, name="brain.nii")


@pytest.mark.parametrize("klass", [nib.Nifti1Image, nib.Nifti2Image])
def test_a_zero_voxel_size_leaves_the_spacing_unknown(klass) -> None:
    img = klass(np.zeros((20, 20, 5), np.int16), np.eye(4))
    img.header.set_qform(None, code=0)
    img.header.set_sform(None, code=0)
    img.header["pixdim"][1:4] = 0  # what a broken exporter writes; nibabel would read it as 1 mm
    raw = img.header.binaryblock + b"\0" * 4 + np.zeros((20, 20, 5), np.int16).tobytes(order="F")
    vol = read_nifti(raw)
    assert vol.spacing_mm is None
    assert any("zero or invalid value: spacing unknown" in n for n in vol.meta["notes"])


@pytest.mark.parametrize("zooms, why", [((10.0, 10.0, 10.0), "pixels must be"),
                                        ((1e6, 1e6, 1.0), "pixels must be"),
                                        ((0.9, 0.9, 50.0), "slices must be")])
def test_implausible_voxel_sizes_leave_the_spacing_unknown(zooms, why) -> None:
    vol = read_nifti(nifti_bytes(np.zeros((20, 20, 5), np.int16), np.diag([*zooms, 1.0])))
    assert vol.spacing_mm is None
    assert any("implausible" in n and why in n for n in vol.meta["notes"])


def test_plausible_sizes_in_metres_are_converted_not_refused() -> None:
    img = nib.Nifti1Image(np.zeros((20, 20, 5), np.int16), np.diag([0.0008, 0.0008, 0.003, 1.0]))
    img.header.set_xyzt_units("meter")
    assert read_nifti(img.to_bytes()).spacing_mm == (3.0, 0.8, 0.8)


def test_a_small_gz_of_a_huge_volume_is_refused_from_its_header() -> None:
    data = gzip.compress(nib.Nifti1Image(np.zeros((400, 400, 400), np.uint8), np.eye(4)).to_bytes(), 9)
    assert len(data) < 100_000  # 64 M voxels of zeros: a 62 KB upload
    with pytest.raises(ImageTooLargeError, match="400x400x400 voxels, over the limit"):
        read_nifti(data)


def test_a_gz_that_inflates_past_what_its_header_promises_stops_there() -> None:
    small = nib.Nifti1Image(np.zeros((10, 10, 10), np.uint8), np.eye(4)).to_bytes()
    co = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = co.compress(small) + b"".join(co.compress(bytes(1 << 24)) for _ in range(16)) + co.flush()
    # stopped at about 1 MiB (the 10x10x10 volume and its slack), not after 256 MiB
    with pytest.raises(ImageTooLargeError, match=r"expands to over 1,04\d,\d{3} bytes"):
        read_nifti(bomb)
