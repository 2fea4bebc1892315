"""A kaggle_3m patient uploaded as one slice, several slice files or one zip, held in memory."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.datasets import DatasetError
from core.datasets.kaggle_3m_upload import is_kaggle_3m_upload, uploaded_patient, uploaded_slice_mask

P = "TCGA_AB_0001_19990101"


def tiff(array: np.ndarray, compression: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="TIFF", compression=compression)
    return buf.getvalue()


def slice_px(n: int) -> np.ndarray:
    """Channel 0 holds 10, FLAIR (1) holds 100 + n, channel 2 holds 90: the stack order shows in FLAIR."""
    image = np.zeros((32, 40, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 10, 100 + n, 90
    return image


def mask_px(n: int) -> np.ndarray:
    mask = np.zeros((32, 40), np.uint8)
    mask[2 : 2 + n, 5:9] = 255
    return mask


def patient_files(numbers: list[int], masks: bool = True, folder: str = "") -> list[tuple[str, bytes]]:
    files = []
    for n in numbers:
        files.append((f"{folder}{P}_{n}.tif", tiff(slice_px(n), "tiff_deflate" if n % 2 else None)))
        if masks:
            files.append((f"{folder}{P}_{n}_mask.tif", tiff(mask_px(n))))
    return files


def zipped(files: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            zf.writestr(name, data)
    return buf.getvalue()


def test_one_slice_is_a_one_slice_flair_case_with_unknown_spacing() -> None:
    case = uploaded_patient([(f"{P}_7.tif", tiff(slice_px(7)))])
    assert case.volume.voxels.shape == (1, 32, 40) and case.volume.spacing_mm is None
    assert set(np.unique(case.volume.voxels)) == {107}  # channel 1: FLAIR
    assert case.meta["slices"] == (7,) and case.meta["sequence"] == "FLAIR" and case.label is None
    assert set(case.meta["sequences"]) == {"pre-contrast", "FLAIR", "post-contrast"}


def test_not_a_kaggle_3m_slice_is_none() -> None:
    assert uploaded_patient([("photo.tif", tiff(slice_px(1)))]) is None  # not named like a slice
    assert uploaded_patient([(f"{P}_7.tif", tiff(slice_px(7)[..., 1]))]) is None  # a grey TIFF
    assert not is_kaggle_3m_upload([("scan.nii.gz", b"\x1f\x8b")])
    assert is_kaggle_3m_upload([("x.zip", zipped(patient_files([1])))])


@pytest.mark.parametrize("as_zip", [False, True])
def test_several_slices_out_of_order_stack_by_number_with_their_masks(as_zip: bool) -> None:
    files = patient_files([10, 2, 1, 3], folder="kaggle_3m/" + P + "/" if as_zip else "")
    upload = [("patient.zip", zipped(files))] if as_zip else files[::-1]
    case = uploaded_patient(upload)
    assert case.name == P and case.meta["slices"] == (1, 2, 3, 10)
    assert [int(case.volume.voxels[z, 0, 0]) for z in range(4)] == [101, 102, 103, 110]
    assert case.label.shape == (4, 32, 40)
    assert [int(case.label[z].sum()) for z in range(4)] == [4 * n for n in (1, 2, 3, 10)]
    assert case.meta["files"][0] == f"{P}_1.tif"


def test_a_missing_mask_drops_the_ground_truth_with_a_note() -> None:
    files = patient_files([1, 2, 3])
    files = [f for f in files if f[0] != f"{P}_2_mask.tif"]
    case = uploaded_patient(files)
    assert case.label is None and "1 of 3 slices have no _mask.tif" in case.meta["notes"][0]


@pytest.mark.parametrize("files, message", [
    (patient_files([1]) + [("TCGA_ZZ_0002_20000101_2.tif", tiff(slice_px(2)))], "2 patients"),
    (patient_files([1]) + [(f"{P}_1.tiff", tiff(slice_px(1)))], "two files for slice 1"),
    (patient_files([1]) + [(f"{P}_5_mask.tif", tiff(mask_px(1)))], "a mask without its slice"),
    ([(f"{P}_5_mask.tif", tiff(mask_px(1)))], "no slice image"),
    (patient_files([1]) + [(f"{P}_2.tif", tiff(np.zeros((16, 16, 3), np.uint8)))], "different sizes"),
    (patient_files([1]) + [(f"{P}_2.tif", tiff(slice_px(2)[..., 0]))], "3-channel"),
    (patient_files([1], masks=False) + [(f"{P}_1_mask.tif", tiff(slice_px(1)[..., 1]))], "0 and 255"),
    (patient_files([1, 2]) + [(f"{P}_3.tif", b"II*\x00garbage")], "cannot be read"),
])
def test_bad_uploads_are_dataset_errors(files: list, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        uploaded_patient(files)


def test_a_slice_mask_upload_is_checked() -> None:
    assert uploaded_slice_mask("x_7_mask.tif", tiff(mask_px(4)), (32, 40)).sum() == 16
    with pytest.raises(DatasetError, match="0 and 255"):
        uploaded_slice_mask("x_7_mask.tif", tiff(slice_px(1)[..., 1]), (32, 40))
    with pytest.raises(DatasetError, match="px but its slice"):
        uploaded_slice_mask("x_7_mask.tif", tiff(mask_px(4)), (30, 40))


def test_a_zipped_patient_unpacks_only_its_slice_files() -> None:
    import tracemalloc

    filler = [(f"extra/{k}.bin", bytes(250_000)) for k in range(200)]  # 50 MB of zeros, not slices
    upload = [("patient.zip", zipped(patient_files([1, 2]) + filler))]
    tracemalloc.start()
    try:
        case = uploaded_patient(upload)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert case.meta["slices"] == (1, 2)
    assert peak < 16 << 20, f"{peak / 2**20:.0f} MiB held for a patient zip with 50 MB of filler"
