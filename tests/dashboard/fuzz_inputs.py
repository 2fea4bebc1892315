"""The inputs of the fuzz table (``test_fuzz_uploads.py``): odd and bad files, each built in memory
by a function of no arguments (or from one that gives the picture), small enough for ``make test``."""
from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from collections.abc import Callable
from functools import cache
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np
import pydicom

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data_samples"
PORTRAIT = SAMPLES / "face" / "grace_hopper.jpg"
FETAL_FRAME = SAMPLES / "fetal_head" / "training_set" / "404_HC.png"  # a real HC18 frame


def png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


@cache
def grey(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert image is not None, path
    return image


def fetal_frame() -> np.ndarray:
    return grey(FETAL_FRAME)


def nerve_frame() -> np.ndarray:
    return grey(SAMPLES / "nerve" / "train" / "1_1.tif")


def brain_slice() -> np.ndarray:
    """A real MR slice: the FLAIR channel of a slice of the bundled LGG patient, at 128x128."""
    folder = SAMPLES / "brain_mri" / "kaggle_3m" / "TCGA_DU_7304_19930325"
    rgb = cv2.imread(str(folder / "TCGA_DU_7304_19930325_18.tif"), cv2.IMREAD_COLOR)
    assert rgb is not None
    return cv2.resize(rgb[..., 1], (128, 128), interpolation=cv2.INTER_AREA)


def portrait() -> np.ndarray:
    """The bundled portrait (BGR)."""
    return cv2.imread(str(PORTRAIT))


def corrupt(image: Callable[[], np.ndarray]) -> Callable[[], bytes]:
    return lambda: png(image())[:40]  # the signature and part of the header: a truncated PNG


def sixteen_bit(image: Callable[[], np.ndarray]) -> Callable[[], bytes]:
    return lambda: png(image().astype(np.uint16) * 257)


def rgba(image: Callable[[], np.ndarray]) -> Callable[[], bytes]:
    def build() -> bytes:
        pixels = image()
        code = cv2.COLOR_GRAY2BGRA if pixels.ndim == 2 else cv2.COLOR_BGR2BGRA
        return png(cv2.cvtColor(pixels, code))
    return build


def plain(image: Callable[[], np.ndarray]) -> Callable[[], bytes]:
    return lambda: png(image())


def zero_bytes() -> bytes:
    return b""


def text_file() -> bytes:
    return b"Patient list\nnot an image, only renamed to .png\n"


def one_pixel() -> bytes:
    return png(np.full((1, 1), 128, np.uint8))


def blank_frame() -> bytes:
    return png(np.zeros((420, 580), np.uint8))


def colour_photo() -> bytes:
    return PORTRAIT.read_bytes()


def ct_dicom() -> bytes:
    ds = pydicom.dcmread(SAMPLES / "fetal_head" / "dicom" / "fetal_head_phantom.dcm")
    ds.Modality = "CT"
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue()


def _nifti(data: np.ndarray, zooms: tuple[float, float, float] = (1.0, 1.0, 3.0)) -> bytes:
    return gzip.compress(nib.Nifti1Image(data, np.diag([*zooms, 1.0])).to_bytes(), mtime=0)


def brain_volume() -> bytes:
    return _nifti(np.repeat(brain_slice()[..., None], 4, axis=2).astype(np.int16))


def huge_header() -> bytes:
    """A .nii.gz of a few KB whose header promises 400x400x400 voxels."""
    header = nib.Nifti1Header()
    header.set_data_shape((400, 400, 400))
    header.set_data_dtype(np.uint8)
    header["vox_offset"] = 352
    return gzip.compress(header.binaryblock + b"\0" * 4 + bytes(4096), mtime=0)


def gzip_bomb() -> bytes:
    """A 10x10x10 NIfTI followed by 8 MiB of zeros: the .gz inflates far past what its header says."""
    small = nib.Nifti1Image(np.zeros((10, 10, 10), np.uint8), np.eye(4)).to_bytes()
    co = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return co.compress(small) + co.compress(bytes(8 << 20)) + co.flush()


def zeros_zip() -> bytes:
    """A zip of 400 zero-filled members: no DICOM among them (a forced parse would take long)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(400):
            zf.writestr(f"IM{i:04d}", bytes(16 * 1024))
    return buf.getvalue()


def zero_voxel_size() -> bytes:
    """A NIfTI whose header states a voxel size of 0 (what a broken exporter writes)."""
    data = np.repeat(brain_slice()[..., None], 4, axis=2).astype(np.int16).transpose(1, 0, 2)
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_qform(None, code=0)
    img.header.set_sform(None, code=0)
    img.header["pixdim"][1:4] = 0  # nibabel would read it as 1 mm if asked to write it
    return img.header.binaryblock + b"\0" * 4 + data.tobytes(order="F")


def constant_volume() -> bytes:
    return _nifti(np.full((40, 40, 6), 7, np.int16))


def no_face() -> bytes:
    yy, xx = np.mgrid[0:240, 0:320]
    sky = np.stack([200 - yy // 3, 150 + xx // 8, 90 + yy // 4], axis=-1).astype(np.uint8)
    return jpeg(sky)


def tiny_face() -> bytes:
    """The portrait shrunk to 80 px wide on a grey canvas: a face under 64 px across."""
    photo = portrait()
    small = cv2.resize(photo, (80, round(80 * photo.shape[0] / photo.shape[1])), interpolation=cv2.INTER_AREA)
    canvas = np.full((256, 256, 3), 120, np.uint8)
    canvas[10:10 + small.shape[0], 10:10 + small.shape[1]] = small
    return png(canvas)


def grey_portrait() -> bytes:
    return jpeg(cv2.cvtColor(portrait(), cv2.COLOR_BGR2GRAY))


def unrelated_csv() -> bytes:
    return b"id,age,weight\n1,34,70\n2,51,82\n"


def grey_portrait_png() -> bytes:
    return png(grey(PORTRAIT))
