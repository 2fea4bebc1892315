"""train.holdout: the exams a run held out, copied in the same layout and described for the cards."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.datasets import read_hc18
from train.data import is_validation
from train.holdout import describe, write_holdout

SAMPLES = Path(__file__).resolve().parents[2] / "data_samples" / "fetal_head"


def test_the_held_out_exams_are_copied_with_their_rows_and_described(tmp_path: Path) -> None:
    out = tmp_path / "val"
    names = write_holdout(SAMPLES, out, seed=1, val_frac=0.3)
    assert sorted(names) == ["185_HC.png", "404_2HC.png", "404_HC.png"]  # exams 185 and 404 at seed 1, 30%
    assert all(is_validation(c.group, 1, 0.3) for c in read_hc18(out))
    cases = {c.name: c for c in read_hc18(out)}
    assert set(cases) == set(names) and all(c.mask is not None and c.meta["hc_mm"] for c in cases.values())
    words = describe(out)
    assert "2 exams held out of training (split seed 1, 30% of exams)" in words
    assert describe(tmp_path) == str(tmp_path)  # any other folder is named by its path


def test_a_folder_that_is_not_hc18_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="not an HC18 folder"):
        write_holdout(tmp_path, tmp_path / "out")


def test_held_out_lgg_patients_are_copied_whole(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    src = tmp_path / "lgg" / "kaggle_3m"
    for i in range(12):
        patient = src / f"TCGA_XX_{i:04d}_20000101"
        patient.mkdir(parents=True)
        Image.fromarray(np.full((8, 8, 3), 40, np.uint8)).save(patient / f"{patient.name}_1.tif")
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(patient / f"{patient.name}_1_mask.tif")
    out = tmp_path / "val"
    kept = write_holdout(tmp_path / "lgg", out, seed=0, val_frac=0.3)
    assert kept and len(kept) < 12
    assert sorted(p.name for p in (out / "kaggle_3m").iterdir()) == sorted(kept)
    assert all(is_validation(name, 0, 0.3) for name in kept)
    assert all(len(list((out / "kaggle_3m" / name).iterdir())) == 2 for name in kept)
    assert f"the {len(kept)} patients held out of training" in describe(out)


def _nerve_tree(tmp_path: Path) -> Path:
    import cv2
    import numpy as np

    src = tmp_path / "positives"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    rng = np.random.default_rng(0)
    for subject in range(1, 13):
        for frame in (1, 2):
            image = np.full((96, 96), 128, np.uint8)
            image[12:84] = rng.integers(30, 100, (72, 96))
            mask = np.zeros((96, 96), np.uint8)
            mask[40:56, 40:60] = 255
            image[mask > 0] = 240
            cv2.imwrite(str(src / "images" / f"{subject}_{frame}.png"), image)
            cv2.imwrite(str(src / "masks" / f"{subject}_{frame}_mask.png"), mask)
    return src


def test_held_out_nerve_subjects_with_proxy_empty_frames(tmp_path: Path) -> None:
    from core.datasets.nerve_images import read_nerve_images

    src = _nerve_tree(tmp_path)
    out = tmp_path / "val"
    names = write_holdout(src, out, seed=0, val_frac=0.3, transplant_empty=True)
    cases = list(read_nerve_images(out))
    real = [c for c in cases if c.meta["frame"] < 100_000]
    proxy = [c for c in cases if c.meta["frame"] >= 100_000]
    assert sorted(c.name for c in cases) == sorted(names) and real and len(proxy) == len(real)
    assert all(is_validation(c.group, 0, 0.3) for c in cases) and len({c.group for c in real}) < 12
    assert all(c.mask.any() for c in real) and not any(c.mask.any() for c in proxy)
    assert all((c.image[:12] == 128).all() for c in proxy)  # the file's bands are kept, as in the copy
    assert f"with {len(proxy)} proxy empty frames" in describe(out)


def test_both_kinds_of_proxy_empty_frames_are_numbered_apart(tmp_path: Path) -> None:
    import json

    from core.datasets.nerve_images import read_nerve_images
    from train.holdout import CROP_OFFSET, HOLDOUT_FILE, TRANSPLANT_OFFSET

    src = _nerve_tree(tmp_path)
    out = tmp_path / "val"
    write_holdout(src, out, seed=0, val_frac=0.3, transplant_empty=True, crop_empty=True)
    cases = list(read_nerve_images(out))
    real = [c for c in cases if c.meta["frame"] < TRANSPLANT_OFFSET]
    covered = [c for c in cases if TRANSPLANT_OFFSET <= c.meta["frame"] < CROP_OFFSET]
    zoomed = [c for c in cases if c.meta["frame"] >= CROP_OFFSET]
    assert real and len(covered) == len(zoomed) == len(real)
    assert not any(c.mask.any() for c in covered + zoomed)
    assert all(c.image[40:56, 40:60].mean() < 200 for c in covered)  # the bright nerve is gone
    assert all(c.image[12:84].max() < 200 for c in zoomed)  # a window that misses it
    info = json.loads((out / HOLDOUT_FILE).read_text())
    assert info["proxy_kinds"] == {"transplant": len(real), "crop": len(real)}
    assert info["description"].endswith("--transplant-empty --crop-empty")
    write_holdout(src, out, seed=0, val_frac=0.3, crop_empty=True)  # one kind: numbered as its kind
    assert all(c.meta["frame"] < TRANSPLANT_OFFSET or c.meta["frame"] >= CROP_OFFSET
               for c in read_nerve_images(out))
