"""Embed each screening task's bundled gallery ahead of time, so the screening page need not.

    python -m train.gallery_index [--tasks skin syndrome autism]

For every screening model with weights (``weights/face_screening/<task>``) and a bundled gallery
(``data_samples/face_screening/<task>/gallery``: one sub-folder of photos per class), the gallery is
embedded exactly as the page embeds it (:func:`core.face.screening.photo_embedding`: landmarks,
alignment, the whole ensemble) and written beside it as ``gallery_index.npz``, keyed by the sha256
of the weights and of the photos (paths and bytes). The page uses the index only when both keys
match; otherwise it embeds the folder itself, as before (about 1 s of Face Mesh for 16 photos).
Rerun after retraining a screening model or changing its gallery (``make weights-screening`` does).
"""
from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from core.face.gallery import INDEX_NAME, gallery_from_folder, save_index
from core.face.screening import Screener, photo_embedding
from core.tasks import get_task

log = logging.getLogger("train.gallery_index")


def write_indexes(tasks: Sequence[str] | None = None) -> list[str]:
    """Write the index of each task's gallery; returns the paths written."""
    task = get_task("face_screening")
    written = []
    for name, weights in task.weights_dirs().items():
        gallery = task.samples_dir / name / "gallery"
        if (tasks and name not in tasks) or not gallery.is_dir():
            continue
        screener = Screener.from_folder(weights)
        fg = gallery_from_folder(gallery, lambda path, s=screener: photo_embedding(s, path))
        out = save_index(fg, gallery, str(screener.card.weights["sha256"]), gallery.parent / INDEX_NAME)
        log.info("%s: %d photos embedded (%d skipped) -> %s", name, len(fg.gallery), len(fg.skipped), out)
        written.append(str(out))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.gallery_index", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="*", help="screening tasks (default: each with weights and a gallery)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    written = write_indexes(args.tasks)
    if not written:
        log.error("no screening model with a bundled gallery found")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
