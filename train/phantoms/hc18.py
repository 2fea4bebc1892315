"""Write fetal head phantoms in the HC18 layout (``shared/docs/DOMAIN.md`` section 1).

    training_set/NNN_HC.png, NNN_HC_Annotation.png (+ NNN_2HC.png for a second frame of an exam)
    training_set_pixel_size_and_HC.csv      filename,pixel size(mm),head circumference (mm)
    test_set/NNN_HC.png + test_set_pixel_size.csv (filename,pixel size(mm))
"""
from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from train.phantoms.fetal_head import TEST_CSV, TRAIN_CSV, exam_frames, make_phantom
from train.phantoms.io import write_csv, write_image

log = logging.getLogger(__name__)


def write_hc18(root: str | Path, n: int, seed: int, *, test_n: int = 0, second_frame_every: int = 5,
               progress: bool = True) -> Path:
    """Write phantoms in the HC18 layout (``shared/docs/DOMAIN.md`` section 1).

    Args:
        root: output folder; ``training_set/`` (and ``test_set/``) are created inside.
        n: number of training exams, named ``000_HC.png`` onwards.
        seed: dataset seed; exam ``i`` is :func:`generate`'s case ``i``.
        test_n: number of unannotated test frames (``rng([seed, j, 1])``), 0 for none.
        second_frame_every: every k-th exam also gets ``NNN_2HC.png``, the same head seen again
            with the probe moved a little (``rng([seed, i, 2])``); 0 for none.
        progress: show a tqdm progress bar.

    Returns:
        ``root`` as a Path.
    """
    if n < 0 or test_n < 0 or second_frame_every < 0:
        raise ValueError(f"n, test_n and second_frame_every must be >= 0, got {n}, {test_n}, "
                         f"{second_frame_every}")
    root = Path(root)
    train_dir = root / "training_set"
    train_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in tqdm(range(n), desc="training exams", disable=not progress):
        second = second_frame_every > 0 and (i + 1) % second_frame_every == 0
        for k, p in enumerate(exam_frames(seed, i, second)):
            name = f"{i:03d}_{'2' if k else ''}HC.png"
            write_image(train_dir / name, p.image)
            write_image(train_dir / name.replace(".png", "_Annotation.png"), p.outline)
            rows.append((name, f"{p.pixel_size_mm:.9f}", f"{p.hc_mm:.2f}"))
    write_csv(root / TRAIN_CSV, ("filename", "pixel size(mm)", "head circumference (mm)"), rows)
    if test_n:
        test_dir = root / "test_set"
        test_dir.mkdir(exist_ok=True)
        test_rows = []
        for j in tqdm(range(test_n), desc="test frames", disable=not progress):
            p = make_phantom(np.random.default_rng([seed, j, 1]))
            write_image(test_dir / f"{j:03d}_HC.png", p.image)
            test_rows.append((f"{j:03d}_HC.png", f"{p.pixel_size_mm:.9f}"))
        write_csv(root / TEST_CSV, ("filename", "pixel size(mm)"), test_rows)
    log.info("wrote %d training frames (%d exams) and %d test frames to %s", len(rows), n, test_n, root)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m train.phantoms.fetal_head --out DIR --n 100 --seed 0``."""
    parser = argparse.ArgumentParser(
        prog="python -m train.phantoms.fetal_head",
        description="Write synthetic fetal head ultrasound phantoms in the HC18 layout "
                    "(training_set/NNN_HC.png + NNN_HC_Annotation.png + CSV; optional test_set/).",
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--n", type=int, default=100, help="training exams (default: 100)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default: 0)")
    parser.add_argument("--test-n", type=int, default=0, help="unannotated test frames (default: 0)")
    parser.add_argument("--second-frame-every", type=int, default=5,
                        help="every k-th exam gets a second frame NNN_2HC.png; 0: none (default: 5)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    write_hc18(args.out, args.n, args.seed, test_n=args.test_n,
               second_frame_every=args.second_frame_every, progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
