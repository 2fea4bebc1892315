"""Copy the exams a training run held out into a folder of the same layout, to evaluate on them.

    python -m train.holdout --data ../shared/data/hc18 --out runs/hc18_val      # seed 0, 10%
    python -m train.evaluate --task fetal_head --weights weights/fetal_head/unet --data runs/hc18_val ...

    python -m train.holdout --data ../shared/data/lgg --out runs/lgg_val --val-frac 0.2  # LGG patients
    python -m train.holdout --data ../shared/data/nerve/positives --out runs/nerve_val --val-frac 0.2 \
        --transplant-empty                                                               # nerve subjects
    python -m train.holdout --data ../shared/data/nerve/positives --out runs/nerve_val_crop --val-frac 0.2 \
        --crop-empty                                               # the same, a second kind of empty proxy

The split is :func:`train.data.is_validation` by exam (HC18) or patient (LGG kaggle_3m), exactly as
``train.segmentation`` draws it with the same ``--seed`` and ``--val-frac``: the frames written are
those no epoch trained on. HC18: the frames, annotations and CSV rows of the held-out exams;
kaggle_3m: the held-out patients' folders, under ``kaggle_3m/``; nerve ``images/`` + ``masks/``: the
held-out subjects' frames and masks, and with ``--transplant-empty`` one proxy empty frame per frame
(``<subject>_<100000 + n>.png``: the nerve covered by tissue from beside it, :mod:`train.transplant`;
the shared copy has no real empty frame), its mask all background; with ``--crop-empty`` one per frame
of a second, independent kind (``<subject>_<200000 + n>.png``: a zoomed window of the frame that
misses the nerve, :mod:`train.empty_crops`).
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from core.datasets import HC18_FRAME, HC18_SPLITS, DatasetError
from core.datasets.kaggle_3m import patient_folders
from core.datasets.nerve_images import nerve_images_root, read_nerve_images
from train.data import fold_of, is_validation
from train.empty_proxies import KINDS, chosen

TRAINING = "training_set"
HOLDOUT_FILE = "holdout.json"  # what the folder is, for the cards that record scores on it


def hc18_rows(data: Path) -> tuple[list[str], list[list[str]]]:
    """The header and rows of an HC18 folder's training CSV.

    Raises:
        SystemExit: ``data`` has no ``training_set/`` or no CSV.
    """
    csv_name = HC18_SPLITS[TRAINING]
    if not (data / TRAINING).is_dir() or not (data / csv_name).is_file():
        raise SystemExit(f"{data}: not an HC18 folder (expected {TRAINING}/ and {csv_name})")
    with (data / csv_name).open(newline="") as fh:
        reader = csv.reader(fh)
        return next(reader), [r for r in reader if r]


def copy_hc18_frames(data: Path, out: Path, header: list[str], rows: list[list[str]]) -> None:
    """Write ``out`` in the HC18 layout: the frames of ``rows`` and their annotations copied from
    ``data``, and those rows (in that order) as its training CSV. ``out`` must not exist yet."""
    (out / TRAINING).mkdir(parents=True)
    for row in rows:
        for name in (row[0], row[0].replace(".png", "_Annotation.png")):
            if (data / TRAINING / name).is_file():
                shutil.copyfile(data / TRAINING / name, out / TRAINING / name)
    with (out / HC18_SPLITS[TRAINING]).open("w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])


def write_holdout(data: Path, out: Path, *, seed: int = 0, val_frac: float = 0.1,
                  transplant_empty: bool = False, crop_empty: bool = False,
                  fold: tuple[int, int] | None = None) -> list[str]:
    """Copy the held-out frames of an HC18 folder (or patients of an LGG kaggle_3m folder, or subjects
    of a nerve images/masks folder) into ``out``; returns their names (patients: their ids).
    ``fold=(k, K)``: LGG patients of fold k of a K-fold cross-validation instead of ``val_frac``."""
    if fold is not None and (nerve_images_root(data) is not None or not _patients(data)):
        raise SystemExit(f"{data}: --folds is implemented for LGG kaggle_3m patients only")
    if nerve_images_root(data) is not None:
        return _write_nerve(data, out, seed=seed, val_frac=val_frac, transplant_empty=transplant_empty,
                            crop_empty=crop_empty)
    if not (data / TRAINING).is_dir() and _patients(data):
        return _write_patients(data, out, seed=seed, val_frac=val_frac, fold=fold)
    try:
        header, rows = hc18_rows(data)
    except SystemExit:
        raise SystemExit(f"{data}: not an HC18 folder (expected {TRAINING}/ and {HC18_SPLITS[TRAINING]}) "
                         "nor an LGG kaggle_3m folder") from None
    keep = [r for r in rows
            if (m := HC18_FRAME.match(r[0])) and is_validation(m.group("exam"), seed, val_frac)]
    if out.exists():
        shutil.rmtree(out)
    copy_hc18_frames(data, out, header, keep)
    exams = sorted({HC18_FRAME.match(r[0]).group("exam") for r in keep})
    (out / HOLDOUT_FILE).write_text(json.dumps({
        "description": f"HC18 frames of the {len(exams)} exams held out of training (split seed {seed}, "
                       f"{val_frac:.0%} of exams): python -m train.holdout --data {data} --seed {seed} "
                       f"--val-frac {val_frac}",
        "source": str(data), "seed": seed, "val_frac": val_frac, "frames": len(keep), "exams": exams,
    }, indent=2) + "\n")
    return [r[0] for r in keep]


def _patients(data: Path) -> list[Path]:
    try:
        return patient_folders(data)[1]
    except (OSError, DatasetError):
        return []


def _write_patients(data: Path, out: Path, *, seed: int, val_frac: float,
                    fold: tuple[int, int] | None = None) -> list[str]:
    """The held-out LGG patients' folders, copied under ``out/kaggle_3m/``; returns their ids."""
    patients = _patients(data)
    if fold is not None:
        folds = fold_of((p.name for p in patients), seed, fold[1])
        keep = [p for p in patients if folds[p.name] == fold[0]]
        how = f"fold {fold[0]} of a {fold[1]}-fold cross-validation by patient"
        command = f"--folds {fold[1]} --fold {fold[0]}"
    else:
        keep = [p for p in patients if is_validation(p.name, seed, val_frac)]
        how, command = f"{val_frac:.0%} of patients", f"--val-frac {val_frac}"
    if out.exists():
        shutil.rmtree(out)
    (out / "kaggle_3m").mkdir(parents=True)
    for folder in keep:
        shutil.copytree(folder, out / "kaggle_3m" / folder.name)
    (out / HOLDOUT_FILE).write_text(json.dumps({
        "description": f"LGG kaggle_3m: the {len(keep)} patients held out of training (split seed {seed}, "
                       f"{how}): python -m train.holdout --data {data} --seed {seed} {command}",
        "source": str(data), "seed": seed, "val_frac": None if fold else val_frac,
        **({"fold": fold[0], "folds": fold[1]} if fold else {}), "patients": [p.name for p in keep],
    }, indent=2) + "\n")
    return [p.name for p in keep]


TRANSPLANT_OFFSET, CROP_OFFSET = (k.offset for k in KINDS)  # proxy of frame n: <subject>_<n + offset>.png


def _write_nerve(data: Path, out: Path, *, seed: int, val_frac: float, transplant_empty: bool,
                 crop_empty: bool = False) -> list[str]:
    """The held-out subjects' nerve frames (and proxy empty frames) under ``out/images`` and
    ``out/masks``; returns the frame names written."""
    root = nerve_images_root(data)
    if out.exists():
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    (out / "masks").mkdir()
    rng = np.random.default_rng(seed)
    kinds = chosen(transplant=transplant_empty, crop=crop_empty)
    names, subjects = [], set()
    empties = {k.name: 0 for k in kinds}
    for case in read_nerve_images(root):
        if case.mask is None or not is_validation(case.group, seed, val_frac):
            continue
        src = Path(case.meta["path"])
        shutil.copyfile(src, out / "images" / src.name)
        mask_src = next((root / "masks").glob(f"{src.stem}_mask.*"))
        shutil.copyfile(mask_src, out / "masks" / mask_src.name)
        names.append(src.name)
        subjects.add(case.meta["subject"])
        for kind in kinds:
            pair = kind.make(case.image, case.mask, rng)
            if pair is None:
                continue
            frame = pair[0][0]
            stem = f"{case.meta['subject']}_{case.meta['frame'] + kind.offset}"
            cv2.imwrite(str(out / "images" / f"{stem}.png"), frame)
            cv2.imwrite(str(out / "masks" / f"{stem}_mask.png"), np.zeros_like(frame))
            names.append(f"{stem}.png")
            empties[kind.name] += 1
    n_empty = sum(empties.values())
    proxies = " / ".join((f"{empties[k.name]}: " if len(kinds) > 1 else "")
                         + f"{k.what}; frame numbers from {k.offset}" for k in kinds)
    (out / HOLDOUT_FILE).write_text(json.dumps({
        "description": f"nerve frames of the {len(subjects)} subjects held out of training (split seed "
                       f"{seed}, {val_frac:.0%} of subjects)"
                       + (f", with {n_empty} proxy empty frames ({proxies})" if kinds else "")
                       + f": python -m train.holdout --data {data} --seed {seed} --val-frac {val_frac}"
                       + "".join(f" {k.option}" for k in kinds),
        "source": str(data), "seed": seed, "val_frac": val_frac, "frames": len(names) - n_empty,
        "proxy_empty_frames": n_empty, "proxy_kinds": empties, "subjects": sorted(subjects),
    }, indent=2) + "\n")
    return names


def describe(folder: Path) -> str:
    """What a dataset folder is: a held-out split's own description, else its path."""
    try:
        return json.loads((Path(folder) / HOLDOUT_FILE).read_text())["description"]
    except (OSError, ValueError, KeyError, TypeError):
        return str(folder)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.holdout", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True,
                   help="HC18, LGG kaggle_3m or nerve images/masks folder the run trained on")
    p.add_argument("--out", type=Path, required=True, help="folder to write (replaced if it exists)")
    p.add_argument("--seed", type=int, default=0, help="the run's split seed (default 0)")
    p.add_argument("--val-frac", type=float, default=0.1, help="the run's held-out share (default 0.1)")
    p.add_argument("--transplant-empty", action="store_true",
                   help="nerve: add one proxy empty frame per held-out frame (train/transplant.py)")
    p.add_argument("--crop-empty", action="store_true",
                   help="nerve: add one proxy empty frame of a second kind per held-out frame (a zoomed "
                        "window that misses the nerve, train/empty_crops.py)")
    p.add_argument("--folds", type=int, default=0,
                   help="LGG: the run's k-fold cross-validation (train.segmentation --folds)")
    p.add_argument("--fold", type=int, default=0, help="with --folds K: the held-out fold (0..K-1)")
    a = p.parse_args(argv)
    if a.folds and not 0 <= a.fold < a.folds:
        p.error(f"--fold must be 0..{a.folds - 1}")
    names = write_holdout(a.data, a.out, seed=a.seed, val_frac=a.val_frac,
                          transplant_empty=a.transplant_empty, crop_empty=a.crop_empty,
                          fold=(a.fold, a.folds) if a.folds else None)
    if nerve_images_root(a.data) is not None:
        print(f"{len(names)} held-out nerve frames -> {a.out}")
    elif all(HC18_FRAME.match(n) for n in names):
        exams = {HC18_FRAME.match(n).group("exam") for n in names}
        print(f"{len(names)} frames of {len(exams)} held-out exams -> {a.out}")
    else:
        print(f"{len(names)} held-out patients -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
