"""Tests for core.io.image: Pillow formats, refusals and conversions, on tiny in-memory images.

DICOM lives in test_imaging_dicom.py."""
from __future__ import annotations

import builtins
import dataclasses
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageFile

from core.io.image import (
    MAX_PIXELS,
    ChannelLayoutError,
    CorruptImageError,
    ImageData,
    ImageError,
    ImageTooLargeError,
    UnsupportedFormatError,
    load_image,
    to_gray_u8,
    to_rgb_u8,
)

ACCEPTED_FORMATS = "PNG, JPEG, TIFF, BMP or DICOM"
SAMPLE_DICOM = Path(__file__).resolve().parents[3] / "data_samples/fetal_head/dicom/fetal_head_phantom.dcm"


# ---------------------------------------------------------------- builders
def pil_bytes(arr: np.ndarray | Image.Image, fmt: str, **save_kw) -> bytes:
    im = arr if isinstance(arr, Image.Image) else Image.fromarray(arr)
    buf = io.BytesIO()
    im.save(buf, fmt, **save_kw)
    return buf.getvalue()


def grey_ramp(h: int = 12, w: int = 16) -> np.ndarray:
    return (np.arange(h * w).reshape(h, w) % 256).astype(np.uint8)


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature + IHDR claiming a huge size, with almost no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


def tiff_with_samples(spp: int, w: int = 4, h: int = 3) -> bytes:
    """An uncompressed 8-bit TIFF with ``spp`` samples per pixel and no ExtraSamples tag."""
    n_tags, ifd_offset = 9, 8
    bps_offset = ifd_offset + 2 + n_tags * 12 + 4
    bps = struct.pack(f"<{spp}H", *([8] * spp))
    data_offset = bps_offset + len(bps)
    pixels = bytes(w * h * spp)

    def tag(code: int, kind: int, count: int, value: bytes) -> bytes:
        return struct.pack("<HHI", code, kind, count) + value.ljust(4, b"\0")

    short, long_ = (lambda v: struct.pack("<H", v)), (lambda v: struct.pack("<I", v))
    tags = [tag(256, 3, 1, short(w)), tag(257, 3, 1, short(h)),
            tag(258, 3, spp, long_(bps_offset)), tag(259, 3, 1, short(1)),
            tag(262, 3, 1, short(1)), tag(273, 4, 1, long_(data_offset)),
            tag(277, 3, 1, short(spp)), tag(278, 3, 1, short(h)),
            tag(279, 4, 1, long_(len(pixels)))]
    return (b"II*\0" + long_(ifd_offset) + short(n_tags) + b"".join(tags) + b"\0" * 4
            + bps + pixels)


# ---------------------------------------------------------------- Pillow formats
def test_png_8bit_grey():
    arr = grey_ramp()
    img = load_image(pil_bytes(arr, "PNG"))
    assert img.format == "PNG"
    assert img.pixels.dtype == np.uint8 and img.pixels.shape == (12, 16)
    np.testing.assert_array_equal(img.pixels, arr)
    assert img.spacing_mm is None
    assert img.meta["bit_depth"] == 8 and img.meta["notes"] == ()


def test_png_16bit_values_preserved_and_gray_spans_full_range():
    arr = (np.arange(20 * 30).reshape(20, 30) * 100).astype(np.uint16)
    img = load_image(pil_bytes(arr, "PNG"))
    assert img.pixels.dtype == np.uint16
    np.testing.assert_array_equal(img.pixels, arr)
    assert img.meta["bit_depth"] == 16
    grey = to_gray_u8(img)
    assert grey.dtype == np.uint8 and grey.shape == arr.shape and grey.flags.c_contiguous
    assert grey.min() == 0 and grey.max() == 255


def test_jpeg_exif_orientation_6_is_applied():
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[..., 0] = 200
    exif = Image.Exif()
    exif[0x0112] = 6
    img = load_image(pil_bytes(rgb, "JPEG", exif=exif.tobytes()))
    assert img.format == "JPEG"
    assert img.pixels.shape == (40, 20, 3) and img.pixels.dtype == np.uint8
    assert any("orientation 6" in note for note in img.meta["notes"])


def test_rgba_is_composited_on_black_with_a_note():
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[...] = (200, 100, 50, 255)
    rgba[0, 0] = (200, 100, 50, 0)
    rgba[1, 1] = (200, 100, 50, 128)
    img = load_image(pil_bytes(rgba, "PNG"))
    assert img.pixels.shape == (4, 5, 3)
    assert tuple(img.pixels[0, 0]) == (0, 0, 0)
    assert tuple(img.pixels[2, 2]) == (200, 100, 50)
    np.testing.assert_allclose(img.pixels[1, 1], (100, 50, 25), atol=1)
    assert "alpha channel dropped (composited on black)" in img.meta["notes"]


def test_grey_alpha_png_stays_grey():
    la = Image.fromarray(np.stack([np.full((3, 3), 200, np.uint8),
                                   np.full((3, 3), 255, np.uint8)], axis=-1), "LA")
    img = load_image(pil_bytes(la, "PNG"))
    assert img.pixels.shape == (3, 3) and int(img.pixels[0, 0]) == 200


def test_palette_and_bilevel_images():
    pal = load_image(pil_bytes(Image.fromarray(grey_ramp()).convert("P"), "PNG"))
    assert pal.pixels.shape == (12, 16, 3)
    bilevel = load_image(pil_bytes(Image.fromarray(grey_ramp() > 100), "PNG"))
    assert bilevel.pixels.dtype == np.uint8 and set(np.unique(bilevel.pixels)) <= {0, 255}


def test_tiff_16bit():
    arr = np.array([[0, 1000], [40000, 65535]], np.uint16)
    img = load_image(pil_bytes(arr, "TIFF"))
    assert img.format == "TIFF" and img.pixels.dtype == np.uint16
    np.testing.assert_array_equal(img.pixels, arr)


def test_multipage_tiff_gives_first_page_and_a_note():
    pages = [Image.fromarray(np.full((6, 7), v, np.uint8)) for v in (10, 20, 30)]
    data = pil_bytes(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    img = load_image(data)
    assert img.pixels.shape == (6, 7) and int(img.pixels[0, 0]) == 10
    assert img.meta["frames"] == 3
    assert any("first of 3 pages" in note for note in img.meta["notes"])


def test_float_tiff_is_float32():
    img = load_image(pil_bytes(np.full((3, 4), 1.5, np.float32), "TIFF"))
    assert img.pixels.dtype == np.float32 and float(img.pixels[0, 0]) == 1.5


def test_bmp():
    rgb = np.random.default_rng(0).integers(0, 255, (5, 6, 3), dtype=np.uint8)
    img = load_image(pil_bytes(rgb, "BMP"))
    assert img.format == "BMP"
    np.testing.assert_array_equal(img.pixels, rgb)


def test_webp_for_face_photos():
    rgb = np.random.default_rng(0).integers(0, 255, (5, 6, 3), dtype=np.uint8)
    img = load_image(pil_bytes(rgb, "WEBP", lossless=True))
    assert img.format == "WEBP"
    np.testing.assert_array_equal(img.pixels, rgb)
    with pytest.raises(CorruptImageError, match="WEBP"):  # the RIFF/WEBP signature names it
        load_image(pil_bytes(rgb, "WEBP", lossless=True)[:30])


def test_bytearray_memoryview_and_path_inputs(tmp_path):
    data = pil_bytes(grey_ramp(), "PNG")
    path = tmp_path / "frame.png"
    path.write_bytes(data)
    for src in (bytearray(data), memoryview(data), path, str(path)):
        np.testing.assert_array_equal(load_image(src).pixels, grey_ramp())


def test_missing_path_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "nope.png")


def test_unsupported_source_type():
    with pytest.raises(TypeError, match="getvalue"):
        load_image(io.BytesIO(b"x"))  # type: ignore[arg-type]


# ---------------------------------------------------------------- refusals
@pytest.mark.parametrize("data", [os.urandom(500), b"patient notes, plain text\n" * 5,
                                  b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"])
def test_not_an_image_is_unsupported(data):
    with pytest.raises(UnsupportedFormatError, match=ACCEPTED_FORMATS):
        load_image(data)


def test_empty_input():
    with pytest.raises(UnsupportedFormatError, match="the file is empty"):
        load_image(b"")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_is_corrupt(fmt):
    rng = np.random.default_rng(1)
    data = pil_bytes(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), fmt)
    assert not ImageFile.LOAD_TRUNCATED_IMAGES
    with pytest.raises(CorruptImageError, match="export it again"):
        load_image(data[: len(data) // 2])


def test_png_cut_inside_header_is_corrupt_not_unsupported():
    with pytest.raises(CorruptImageError, match="PNG"):
        load_image(pil_bytes(grey_ramp(), "PNG")[:40])


def test_huge_dimensions_refused_before_decoding():
    with pytest.raises(ImageTooLargeError, match="8000x8000") as info:
        load_image(png_header_only(8_000, 8_000))  # over our limit, under Pillow's
    assert f"{MAX_PIXELS:,}" in str(info.value) and "downscale" in str(info.value)


def test_pillow_decompression_bomb_becomes_too_large():
    with pytest.raises(ImageTooLargeError, match="downscale"):
        load_image(png_header_only(20_000, 20_000))  # Pillow refuses this in Image.open


def test_max_pixels_argument():
    with pytest.raises(ImageTooLargeError, match="limit of 100"):
        load_image(pil_bytes(grey_ramp(), "PNG"), max_pixels=100)


def test_unknown_tiff_channel_layout():
    with pytest.raises(ChannelLayoutError, match="8-bit greyscale or RGB PNG"):
        load_image(tiff_with_samples(5))


def test_errors_share_one_base_class():
    for cls in (UnsupportedFormatError, CorruptImageError, ImageTooLargeError,
                ChannelLayoutError):
        assert issubclass(cls, ImageError) and issubclass(cls, ValueError)


def test_load_image_never_writes_files(tmp_path, monkeypatch):
    real_open = builtins.open
    writes: list[str] = []

    def spy_open(file, mode="r", *args, **kwargs):
        if any(flag in mode for flag in "wax+"):
            writes.append(str(file))
        return real_open(file, mode, *args, **kwargs)

    src = tmp_path / "in"
    src.mkdir()
    (src / "x.png").write_bytes(pil_bytes(grey_ramp(), "PNG"))
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)
    load_image(src / "x.png")
    load_image(SAMPLE_DICOM.read_bytes())
    assert writes == [] and os.listdir(work) == []


# ---------------------------------------------------------------- conversions
def test_to_gray_u8_copies_uint8_and_converts_rgb():
    arr = grey_ramp()
    grey = to_gray_u8(arr)
    np.testing.assert_array_equal(grey, arr)
    assert grey is not arr and not np.shares_memory(grey, arr)
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 1] = 255
    assert to_gray_u8(rgb).shape == (2, 2) and 140 < int(to_gray_u8(rgb)[0, 0]) < 160


def test_to_gray_u8_constant_image_is_zeros():
    out = to_gray_u8(np.full((3, 3), 1234, np.uint16))
    assert out.dtype == np.uint8 and not out.any()
    assert not to_gray_u8(np.full((3, 3), np.nan, np.float32)).any()


def test_to_gray_u8_ignores_a_few_hot_pixels():
    arr = np.tile(np.arange(100, dtype=np.uint16), (100, 1))
    arr[0, 0] = 65535
    grey = to_gray_u8(arr)
    assert grey[5, 50] > 100  # not squashed to black by the single outlier


def test_to_rgb_u8():
    rgb = to_rgb_u8(load_image(pil_bytes(grey_ramp(), "PNG")))
    assert rgb.shape == (12, 16, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[..., 0], grey_ramp())
    wide = to_rgb_u8(np.full((2, 2, 3), 300, np.uint16))
    assert wide.shape == (2, 2, 3) and wide.dtype == np.uint8


@pytest.mark.parametrize("shape", [(4, 4, 2), (4, 4, 4), (2, 2, 2, 2), (0, 0)])
def test_conversions_refuse_other_layouts(shape):
    with pytest.raises(ChannelLayoutError, match="8-bit greyscale or RGB PNG"):
        to_gray_u8(np.zeros(shape, np.uint8))
    with pytest.raises(ChannelLayoutError):
        to_rgb_u8(np.zeros(shape, np.uint8))


def test_image_data_is_frozen():
    img = load_image(pil_bytes(grey_ramp(), "PNG"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        img.format = "JPEG"  # type: ignore[misc]
    assert isinstance(img, ImageData)
    assert pydicom.__version__  # the DICOM tests above ran against this version
