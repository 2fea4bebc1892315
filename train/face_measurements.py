"""Facial measurements for a folder of photos: one CSV row per photo.

    python -m train.face_measurements PHOTO_DIR --out table.csv [--mm-per-px F]
                                      [--reference interpupillary|outer_canthal]

Every image in PHOTO_DIR (not its subfolders; .jpg .jpeg .png .bmp .tif .tiff .webp) goes through
mediapipe Face Mesh (``core.face.landmarks``) and ``core.face.anthropometry.measure_face``.
Columns: ``file``, ``reference``, one column per measurement key (lengths as ratios to the
reference distance, angles in degrees, indices unitless, asymmetry in %), ``<key>_mm`` for every
length when ``--mm-per-px`` is given, and ``error``: empty, or why the photo gave no
measurements (no face found, unreadable file). The table is the "reference group" the face page
compares a new photo with (z-scores); build it from photos taken the same way (frontal, neutral
expression, same reference). Research and education use: these are not diagnoses.
"""
from __future__ import annotations

import argparse
import csv
import logging
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from core.datasets import IMAGE_SUFFIXES
from core.face.anthropometry import MEASUREMENTS, REFERENCES, measure_face

log = logging.getLogger(__name__)

LENGTH_KEYS = tuple(k for k, d in MEASUREMENTS.items() if d.kind == "length")


def columns(with_mm: bool) -> list[str]:
    """The CSV header: file, reference, the measurement keys, [<length key>_mm ...], error."""
    mm = [f"{k}_mm" for k in LENGTH_KEYS] if with_mm else []
    return ["file", "reference", *MEASUREMENTS, *mm, "error"]


def measure_photo(path: Path, *, reference: str, mm_per_px: float | None) -> dict[str, object]:
    """One table row for one photo; a photo that cannot be measured gets only ``error``.

    Raises:
        Nothing for a bad photo (no face, unreadable file, degenerate landmarks): the reason is
        written in the row's ``error`` column so one photo cannot stop a folder.
    """
    from core.face import landmarks  # mediapipe is imported only when a photo is measured

    row: dict[str, object] = {"file": path.name, "reference": reference, "error": ""}
    try:
        points = landmarks.detect_landmarks(landmarks.oriented_rgb(path)).points
        measurements = measure_face(points, reference=reference, mm_per_px=mm_per_px)
    except (ValueError, OSError) as exc:  # FaceError / NoFaceError are ValueErrors
        row["error"] = f"{type(exc).__name__}: {exc}"[:200]
        log.warning("%s: %s", path.name, row["error"])
        return row
    for m in measurements:
        row[m.key] = m.value
        if m.value_mm is not None:
            row[f"{m.key}_mm"] = m.value_mm
    return row


def measure_folder(folder: Path, out: Path, *, reference: str = "interpupillary",
                   mm_per_px: float | None = None) -> list[dict[str, object]]:
    """Measure every photo in ``folder`` (sorted by name) and write the CSV table to ``out``.

    Returns:
        The rows written.

    Raises:
        FileNotFoundError: ``folder`` is not a directory or holds no image files.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of photos")
    photos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not photos:
        raise FileNotFoundError(f"no photos ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    rows = [measure_photo(p, reference=reference, mm_per_px=mm_per_px)
            for p in tqdm(photos, desc="photos", unit="photo")]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns(mm_per_px is not None))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of mm per pixel, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.face_measurements", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("photo_dir", type=Path, help="folder of face photos")
    p.add_argument("--out", type=Path, required=True, help="CSV table to write")
    p.add_argument("--mm-per-px", type=_positive, default=None,
                   help="photo scale at the face in mm per pixel; adds <key>_mm columns")
    p.add_argument("--reference", choices=sorted(REFERENCES), default="interpupillary",
                   help="distance the lengths are divided by (default: interpupillary)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        rows = measure_folder(args.photo_dir, args.out, reference=args.reference,
                              mm_per_px=args.mm_per_px)
    except FileNotFoundError as exc:
        p.error(str(exc))
    failed = sum(bool(r["error"]) for r in rows)
    log.info("wrote %s: %d photos measured, %d without measurements", args.out,
             len(rows) - failed, failed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
