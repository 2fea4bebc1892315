"""The model lab on the NIfTI pairs layout (brain MRI): MSD / nnU-Net and BraTS folders detected,
slices counted from the headers, cases read as 2-D axial slices, refusals, and the bundled sample."""
from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

import core.datasets.nifti_pairs
from core.datasets import DatasetLayoutError, get_layout, read_cases
from core.datasets.inventory import take_inventory
from core.evaluation.engine import collect
from core.io.nifti import read_nifti, write_nifti
from core.lab import detect_layout
from core.lab.datasets import SAMPLES_EXPECTED
from core.models import create_model
from core.predict import Segmenter
from core.roots import SAMPLES_ROOT
from core.tasks import get_task
from core.weights import ModelCard, save_model

SPACING = (2.0, 0.5, 0.75)  # (slice, row, col) mm


def _volume(z: int, seed: int = 0, shape: tuple[int, int] = (12, 10)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.integers(1, 400, (z, *shape)).astype(np.float32)
    label = np.zeros((z, *shape), np.uint8)
    label[:, 3:8, 2:6] = 1
    return image, label


def _msd(root: Path, sizes: dict[str, int], unlabelled: tuple[str, ...] = ()) -> Path:
    for folder in ("imagesTr", "labelsTr"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for i, (name, z) in enumerate(sizes.items()):
        image, label = _volume(z, i)
        write_nifti(root / "imagesTr" / f"{name}.nii.gz", image, SPACING)
        if name not in unlabelled:
            write_nifti(root / "labelsTr" / f"{name}.nii.gz", label, SPACING, dtype=np.uint8)
    return root


def _brats(root: Path, sizes: dict[str, int], unlabelled: tuple[str, ...] = ()) -> Path:
    for i, (name, z) in enumerate(sizes.items()):
        (root / name).mkdir(parents=True)
        image, label = _volume(z, i)
        write_nifti(root / name / f"{name}_t1ce.nii.gz", image, SPACING)
        write_nifti(root / name / f"{name}_flair.nii.gz", image, SPACING)
        if name not in unlabelled:
            write_nifti(root / name / f"{name}_seg.nii.gz", label, SPACING, dtype=np.uint8)
    return root


@pytest.fixture()
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_the_layout_is_known() -> None:
    layout = get_layout("nifti_pairs")
    assert layout.tasks[0] == "brain_tumor" == get_task("brain_tumor").name and layout.kind == "volume"
    assert get_task("brain_tumor").layout == "nifti_pairs"
    assert "imagesTr" in layout.expected and "_seg.nii.gz" in layout.expected
    assert "data_samples/brain_mri" in SAMPLES_EXPECTED


def test_msd_folder_counts_slices_from_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _msd(tmp_path / "Task01", {"a": 4, "b": 3, "c": 5}, unlabelled=("c",))
    (root / "imagesTs").mkdir()
    write_nifti(root / "imagesTs" / "t.nii.gz", _volume(2)[0], SPACING)
    decoded = []
    monkeypatch.setattr(core.datasets.nifti_pairs, "read_nifti", lambda data, **kw: decoded.append(len(data)))
    g = detect_layout(root)
    assert (g.layout, g.task, g.split, g.n_cases, g.n_labelled) == ("nifti_pairs", "brain_tumor", "Tr", 7, 7)
    assert g.root == root.resolve() and not g.bundled
    assert len(decoded) == 2  # only the probe (one image, its label): the slices come from headers
    text = "\n".join(g.warnings)
    assert "2 labelled volumes read as 7 2-D axial slices" in text
    assert "python -m train.evaluate --task brain_tumor" in text
    assert "1 of 3 volumes have no label" in text and "imagesTs/: 1 volumes without labels" in text
    monkeypatch.undo()
    cases = list(read_cases(g))
    assert len(cases) == g.n_cases
    assert [c.name for c in cases] == [f"a_z{z:03d}" for z in range(4)] + [f"b_z{z:03d}" for z in range(3)]
    c = cases[0]
    assert c.image.shape == (12, 10) and c.image.dtype == np.uint8 and c.mask.sum() == 20
    assert c.pixel_size_mm == pytest.approx(np.mean(SPACING[1:])) and c.group == "a"


@pytest.mark.parametrize("slice_axis", [0, 1, 2])
def test_the_slice_axis_is_the_one_that_maps_to_superior(tmp_path: Path, slice_axis: int) -> None:
    """Voxel orders other than L,P,S: the header count equals what read_nifti cuts into slices."""
    shape = [6, 7, 8]
    affine = np.zeros((4, 4))
    affine[3, 3] = 1.0
    others = [a for a in range(3) if a != slice_axis]
    affine[2, slice_axis] = 2.0  # S
    affine[0, others[0]], affine[1, others[1]] = -0.5, 0.5  # L, A
    for folder, dtype in (("imagesTr", np.float32), ("labelsTr", np.uint8)):
        (tmp_path / folder).mkdir(exist_ok=True)
        nib.save(nib.Nifti1Image(np.ones(shape, dtype), affine), tmp_path / folder / "v.nii.gz")
    g = detect_layout(tmp_path)
    expected = read_nifti((tmp_path / "imagesTr" / "v.nii.gz").read_bytes()).voxels.shape[0]
    assert g.n_cases == shape[slice_axis] == expected == len(list(read_cases(g)))


def test_pointing_at_imagestr_reads_the_dataset(tmp_path: Path) -> None:
    root = _msd(tmp_path / "d", {"a": 2})
    g = detect_layout(root / "imagesTr")
    assert g.root == root.resolve() and g.n_cases == 2


def test_brats_case_folders(tmp_path: Path) -> None:
    root = _brats(tmp_path / "brats", {"BraTS20_001": 3, "BraTS20_002": 2, "BraTS20_003": 4},
                  unlabelled=("BraTS20_003",))
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("not a case")
    g = detect_layout(root)
    assert (g.layout, g.task, g.n_cases) == ("nifti_pairs", "brain_tumor", 5)
    text = "\n".join(g.warnings)
    assert "1 of 3 volumes have no label (CASE_seg.nii.gz)" in text
    assert "notes/: not part of the layout (1 files), not read" in text
    cases = list(read_cases(g))
    assert len(cases) == 5 and {c.group for c in cases} == {"BraTS20_001", "BraTS20_002"}


def test_names_decode_only_their_volume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = detect_layout(_msd(tmp_path / "d", {"a": 4, "b": 3, "b_z001": 2}))
    real, read = core.datasets.nifti_pairs.read_volume_case, []

    def spy(name, *args, **kwargs):
        read.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(core.datasets.nifti_pairs, "read_volume_case", spy)
    cases = list(read_cases(g, names={"b_z002", "b_z000"}))
    assert [c.name for c in cases] == ["b_z000", "b_z002"] and read == ["b"]
    full = {c.name: c for c in read_cases(g) if c.group == "b"}
    np.testing.assert_array_equal(cases[1].image, full["b_z002"].image)  # windowed on the whole volume
    read.clear()
    assert [c.name for c in read_cases(g, names={"b_z001_z001"})] == ["b_z001_z001"] and read == ["b_z001"]
    assert list(read_cases(g, names={"gone_z000"})) == []


def test_images_without_labels_are_refused(tmp_path: Path) -> None:
    root = _msd(tmp_path / "msd", {"a": 2, "b": 2}, unlabelled=("a", "b"))
    inv = take_inventory(root)
    assert inv.n_files == 2 and inv.by_suffix == {".nii.gz": 2}  # counted whole, not "empty"
    with pytest.raises(DatasetLayoutError) as err:
        detect_layout(root)
    msg = str(err.value)
    assert "imagesTr/ holds 2 NIfTI volumes, none with its labelsTr/NAME.nii.gz" in msg
    assert "nothing to score" in msg and get_layout("nifti_pairs").expected in msg
    brats = _brats(tmp_path / "brats", {"c1": 2}, unlabelled=("c1",))
    with pytest.raises(DatasetLayoutError, match=r"1 BraTS case folders, none with a \*_seg\.nii\.gz"):
        detect_layout(brats)


def test_only_a_test_split_is_refused(tmp_path: Path) -> None:
    (tmp_path / "imagesTs").mkdir()
    write_nifti(tmp_path / "imagesTs" / "t.nii.gz", _volume(2)[0], SPACING)
    with pytest.raises(DatasetLayoutError, match="only unlabelled imagesTs/ volumes"):
        detect_layout(tmp_path)


def test_a_label_on_another_grid_is_refused(tmp_path: Path) -> None:
    root = _msd(tmp_path, {"a": 3})
    write_nifti(root / "labelsTr" / "a.nii.gz", np.zeros((2, 12, 10), np.uint8), SPACING, dtype=np.uint8)
    with pytest.raises(DatasetLayoutError, match=r"a: the label grid \(10, 12, 2\) does not match"):
        detect_layout(root)


def test_corrupt_files_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    garbage = _msd(tmp_path / "garbage", {"a": 2, "b": 2})
    (garbage / "imagesTr" / "b.nii.gz").write_bytes(b"this is not a NIfTI volume at all")
    with pytest.raises(DatasetLayoutError, match=r"pairs layout, but imagesTr/b\.nii\.gz cannot be read"):
        detect_layout(garbage)
    plain = _msd(tmp_path / "plain", {"a": 2})
    (plain / "labelsTr" / "a.nii.gz").write_bytes(gzip.compress(b"\x00" * 400))  # gzip, no header
    with pytest.raises(DatasetLayoutError, match=r"labelsTr/a\.nii\.gz cannot be read"):
        detect_layout(plain)
    cut = _msd(tmp_path / "cut", {"a": 6})
    path = cut / "imagesTr" / "a.nii.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # the header is intact
    assert nib.load(path).shape == (10, 12, 6)
    with pytest.raises(DatasetLayoutError, match=r"a\.nii\.gz cannot be read: the \.gz file is truncated"):
        detect_layout(cut)
    empty = _msd(tmp_path / "empty", {"a": 2})
    (empty / "labelsTr" / "a.nii.gz").write_bytes(b"")
    with pytest.raises(DatasetLayoutError, match=r"cannot be read.*labelsTr/a\.nii\.gz"):
        detect_layout(empty)


def _bundled_phantom_pairs():
    """The bundled brain folder read as NIfTI pairs (its phantoms): the lab itself opens it on the
    real LGG patient in its kaggle_3m/ folder (test below)."""
    folder = (SAMPLES_ROOT / "brain_mri").resolve()
    return get_layout("nifti_pairs").probe(folder, take_inventory(folder))


def test_the_bundled_brain_folder_opens_on_the_real_lgg_patient() -> None:
    g = detect_layout(SAMPLES_ROOT / "brain_mri")
    assert (g.layout, g.task, g.n_cases, g.n_labelled) == ("kaggle_3m", "brain_tumor", 36, 36)
    assert g.bundled and g.root == (SAMPLES_ROOT / "brain_mri" / "kaggle_3m").resolve()
    (case,) = read_cases(g, names={"TCGA_DU_7304_19930325_20.tif"})
    assert case.group == "TCGA_DU_7304_19930325" and case.mask.any() and case.image.shape == (256, 256, 3)


def test_the_bundled_brain_phantom_pairs() -> None:
    g = _bundled_phantom_pairs()
    assert (g.layout, g.task, g.n_cases, g.n_labelled) == ("nifti_pairs", "brain_tumor", 22, 22)
    assert g.root == (SAMPLES_ROOT / "brain_mri").resolve()
    text = "\n".join(g.warnings)
    assert "dicom/" in text and "not scored" in text and "train.evaluate --task brain_tumor" in text
    (case,) = read_cases(g, names={"brain_phantom_01_z007"})
    assert case.mask is not None and case.mask.any() and case.pixel_size_mm


def test_the_engine_scores_the_bundled_slices(tmp_path: Path, one_thread: None) -> None:
    task = get_task("brain_tumor")
    cfg = {"widths": [4, 8, 8, 8, 8], "convs": [1, 1, 1, 1, 1], "presence_head": False}
    card = ModelCard(task="brain_tumor", arch="cnn", arch_config=cfg, labels=list(task.labels),
                     input={**task.input, "size": [64, 64]}, postprocess=task.postprocess)
    torch.manual_seed(0)
    save_model(create_model("cnn", **cfg), card, tmp_path / "cnn")
    g = _bundled_phantom_pairs()
    result = collect({"cnn": Segmenter.from_folder(tmp_path / "cnn")}, read_cases(g), task=g.task,
                     batch_size=4, total=g.n_cases)
    rows = result.rows["cnn"]
    assert len(rows) == g.n_cases == 22
    assert {r["group"] for r in rows} == {"brain_phantom_01", "s1045_tumour_01", "s1045_tumour_02"}
    assert all(0.0 <= r["dice"] <= 1.0 and not np.isnan(r["hd95_mm"]) for r in rows)
