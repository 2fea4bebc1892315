"""Synthetic face "conditions" with a known location, for the face screening classifiers.

Three screening tasks share one machinery. Each phantom is a mild augmentation of a real,
public-domain portrait (:mod:`train.face_augment`: mirror, pose, then lighting, colour and
degradation), with a class-specific change made on the posed photo BEFORE the lighting and
degradation steps, so that these apply to the change as to the skin around it. The landmarks
(mediapipe Face Mesh, detected once per portrait) move with every step. Every class is tied to
the facial regions that carry its evidence (``evidence_regions`` of its row in
:mod:`core.tasks.face_screening`, names from
:data:`core.face.regions.REGION_NAMES`); ``PhantomFace.evidence`` is that location as a pixel mask,
the ground truth of a Grad-CAM pointing game.

``skin``: drawn only on the landmark-derived skin (forehead, cheeks, nose and the chin, i.e. the
face oval below the lower lip: ``face_oval`` in the skin row's ``evidence_regions`` means that part), never
within 0.08 IPD of the eyes, brows, lips or the face's outline; blended into the skin's own
texture (multiplied tints and soft alphas, no flat discs).

* ``acne``: 6-30 papules (a soft red halo over a side-lit bump) and pustules (the same with a
  white-yellow centre) scattered over forehead, cheeks, chin and, rarely, the nose.
* ``eczema``: 1-3 dry pink-red patches with irregular borders on forehead, cheeks or chin:
  duller (desaturated), rough fine texture and whitish scale.
* ``rosacea``: diffuse blotchy centrofacial redness on both cheeks beside the nose and on the
  nose, mostly with a few fine red telangiectasia lines.
* ``healthy``: nothing drawn (the pixels equal those of the plain augmentation of the same seed).

Skin evidence = the pixels actually changed: where the condition's blend weight is >= 0.15.

``syndrome``: descriptive, syndrome-LIKE shape changes by smooth landmark-driven warps (they model
no real syndrome). Every class, ``unaffected`` included, first gets random natural shape variation
(:func:`train.face_shape._group_warps` at moderate strength); the class's own deformation is added
to the same displacement field and the photo is resampled once, so the classes differ by the class
change only, not by "any warp" or by resampling blur.

* ``wide_set_eyes``: both eyes, with lids and brows, moved apart rigidly by 8-13% of the
  interpupillary distance (IPD) each; the span between the inner canthi (and the nasal bridge)
  stretches: the intercanthal distance grows by 30-50%.
  Evidence: the hull of both eyes (the eyes and the span between them), grown by 0.05 IPD.
* ``short_fissures_smooth_philtrum``: each eye's outer corner pulled toward its inner corner by
  20-26% of the fissure's length (iris untouched), the upper lip's vermilion thinned by about 40%
  (the philtrum a little longer) and the philtrum's columns and groove smoothed away.
  Evidence: both eyes grown by 0.1 IPD, and the upper lip with the philtrum (the hull of the
  lips and the subnasale).
* ``small_jaw``: the face below the mouth scaled toward the mouth opening (70-80% vertically,
  84-90% across, fading away from the chin): the mouth-to-chin height about 20% shorter and the
  jaw narrower. Evidence: the face oval below the mouth opening (stomion).

``autism``: there is NO known facial marker of autism, and the product must never suggest one
(``shared/docs/DOMAIN.md`` section 4: the widely used Kaggle set was scraped without verified
diagnoses and the papers built on it are retracted or flagged). ``asd_label`` and ``td_label``
differ ONLY by a synthetic marker with no relation to autism: a faint chequered stamp (6 x 3
squares, fixed shape) on the forehead of every ``asd_label`` phantom. It exists so that the
pipeline (training, Grad-CAM, pointing game) can be demonstrated; it says nothing about faces and
autism. Evidence: the stamp's footprint (inside the forehead).

    python -m train.phantoms.face --task skin --n 200 --seed 0 --identity train --out DIR

writes an ImageFolder layout ``DIR/<class>/<task>_<i>.png``, the evidence masks as
``DIR/evidence/<class>/<task>_<i>.png`` (0/255) and ``DIR/manifest.csv``
(path,label,identity,evidence_path; paths relative to DIR); a reader that takes every
sub-folder of DIR as a class must skip ``evidence/`` (or read the manifest). Training identity:
matplotlib's ``grace_hopper.jpg``; held-out identity: scikit-image's astronaut.
"""
from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from core.face.landmarks import FaceLandmarks
from train.face_augment import (
    MILD,
    AugmentConfig,
    FaceSource,
    _apply,
    finish_pixels,
    pose_homography,
    warp_from_pyramid,
)
from train.face_sources import TRAIN_PHOTO, astronaut_source, sources_from
from train.phantoms.face_conditions import (
    SCREENING,
    FaceFrame,
    draw_marker,
    draw_skin,
    reshape_face,
    soft_mask,
)
from train.phantoms.io import write_csv, write_image

log = logging.getLogger(__name__)

IDENTITIES = ("train", "held_out")


@dataclass(frozen=True)
class PhantomFace:
    """One synthetic face and its ground truth.

    Attributes:
        rgb: HxWx3 uint8 RGB on the portrait's own pixel grid.
        landmarks: the landmarks moved with the image (pose and shape changes).
        label: the class name, from ``SCREENING.rows[task].labels``.
        label_index: its index in ``SCREENING.rows[task].labels``.
        evidence: HxW bool, where the class evidence lies; all False for the no-finding classes.
        identity: the portrait's name (one identity per portrait).
    """

    rgb: np.ndarray
    landmarks: FaceLandmarks
    label: str
    label_index: int
    evidence: np.ndarray
    identity: str


# ---------------------------------------------------------------- phantoms
def vary_identity(image: np.ndarray, face: FaceFrame, rng: np.random.Generator) -> np.ndarray:
    """Make the one training face look less like itself, before any class is drawn: skin smoothed
    (younger, fewer wrinkles) and its tone shifted (lighter, darker, pinker, yellower) inside the
    face oval, each in a random share of samples. Every class gets the same nuisance, so a
    classifier must tell the classes by the drawn change, not by this person's skin."""
    oval = soft_mask(face.masks["face_oval"], 0.05 * face.ipd)[..., None]
    out = image.astype(np.float32)
    if rng.random() < 0.6:
        smooth = cv2.bilateralFilter(image, 0, float(rng.uniform(15, 45)), 0.04 * face.ipd).astype(np.float32)
        k = rng.uniform(0.4, 1.0)
        out = out * (1 - k * oval) + smooth * (k * oval)
    if rng.random() < 0.8:
        lab = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2LAB).astype(np.float32)
        shift = np.array([rng.uniform(-25, 20), rng.uniform(-6, 12), rng.uniform(-10, 8)], np.float32)
        lab += shift * (255 / 100, 1, 1) * oval  # L is stored 0..255 for 0..100
        shifted = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB).astype(np.float32)
        out = out * (1 - oval) + shifted * oval
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _classes(task: str) -> tuple[str, ...]:
    if task not in SCREENING.rows:
        raise ValueError(f"unknown face screening task {task!r}; choose one of {', '.join(SCREENING.rows)}")
    return SCREENING.rows[task].labels


def make_phantom(task: str, label: str, source: FaceSource, rng: np.random.Generator,
                 augment: AugmentConfig = MILD, identity_variation: float = 0.0) -> PhantomFace:
    """One phantom of class ``label``: the portrait mirrored and posed, the class change made, then
    lighting, colour and degradation (all from ``augment``).

    The class change draws from its own stream (``rng.spawn``), so the pose, natural shape
    variation and lighting of a seed are the same for every class: a ``healthy``/``td_label``
    phantom equals :func:`train.face_augment.photo_sample` with the same seed, pixel for pixel.

    Args:
        task: a row of the ``face_screening`` task (``skin``, ``syndrome``, ``autism``).
        label: one of its classes.
        source: the portrait and its landmarks.
        rng: a seeded Generator (``np.random.default_rng(...)``: it must be able to spawn).
        augment: the augmentation strengths (occluders and background changes apply if set).
        identity_variation: share of phantoms whose face is first made to look less like the
            portrait (:func:`vary_identity`; its own random stream, so nothing else changes).

    Raises:
        ValueError: unknown task or label.
    """
    classes = _classes(task)
    if label not in classes:
        raise ValueError(f"unknown class {label!r} for task {task!r}; choose one of {', '.join(classes)}")
    draw_rng = rng.spawn(1)[0]
    vary_rng = rng.spawn(1)[0] if identity_variation else None
    levels, pts, _ = source.pick(augment, rng)
    pose = pose_homography(source.shape, pts, augment, rng)
    image = warp_from_pyramid(levels, pose, source.shape, pts[:, :2].mean(axis=0))
    pts = _apply(pose, pts)
    if vary_rng is not None and vary_rng.random() < identity_variation:
        image = vary_identity(image, FaceFrame.of(pts, source.shape), vary_rng)
    if task == "syndrome":
        image, pts, evidence = reshape_face(image, pts, label, rng, draw_rng)
    else:
        draw = draw_skin if task == "skin" else draw_marker
        image, evidence = draw(image, FaceFrame.of(pts, source.shape), label, draw_rng)
    image = finish_pixels(image, pts, augment, rng)
    return PhantomFace(image, FaceLandmarks(pts.astype(np.float32), source.shape), label,
                       classes.index(label), evidence, source.name)


@lru_cache(maxsize=2)
def face_source(identity: str = "train") -> FaceSource:
    """The portrait of an identity, landmarks detected once per process (as ``default_sources``):
    ``train`` is matplotlib's grace_hopper.jpg, ``held_out`` scikit-image's astronaut."""
    if identity not in IDENTITIES:
        raise ValueError(f"unknown identity {identity!r}; choose one of {', '.join(IDENTITIES)}")
    if identity == "held_out":
        return astronaut_source()
    from matplotlib import cbook

    return sources_from([Path(cbook.get_sample_data(TRAIN_PHOTO, asfileobj=False))], glasses=True)[0]


def iter_phantoms(task: str, n: int, seed: int, identity: str = "train",
                  identity_variation: float = 0.0,
                  sources: Sequence[FaceSource] | None = None) -> Iterator[PhantomFace]:
    """Phantom ``i`` (0..n-1) has class ``SCREENING.rows[task].labels[i % C]`` and Generator ``[seed, i]``:
    balanced (the remainder goes to the first classes) and reproducible one by one. With ``sources``
    (real people's photos, :mod:`train.face_identities`) phantom ``i`` is drawn on
    ``sources[(i // C) % len(sources)]``, so every person gets every class in turn; else on the
    portrait of ``identity``."""
    classes = _classes(task)
    if n < 0:
        raise ValueError(f"need n >= 0, got {n}")
    pool = list(sources) if sources else [face_source(identity)]
    for i in range(n):
        source = pool[(i // len(classes)) % len(pool)]
        yield make_phantom(task, classes[i % len(classes)], source, np.random.default_rng([seed, i]),
                           identity_variation=identity_variation)


def phantom_set(task: str, n: int, seed: int, identity: str = "train",
                identity_variation: float = 0.0,
                sources: Sequence[FaceSource] | None = None) -> list[PhantomFace]:
    """``n`` phantoms of a task, balanced over its classes, on the ``train`` (grace_hopper) or
    ``held_out`` (astronaut) identity, or on the photos ``sources``; the same seed gives identical
    pixels. ``identity_variation``: see :func:`make_phantom` (for training sets; test sets keep the
    portrait as it is)."""
    return list(iter_phantoms(task, n, seed, identity, identity_variation, sources))


def write_dataset(out: str | Path, task: str, n: int, seed: int, identity: str = "train", *,
                  progress: bool = True) -> Path:
    """Write phantoms as ``out/<class>/<task>_<i>.png``, their evidence as
    ``out/evidence/<class>/<task>_<i>.png`` (0/255) and ``out/manifest.csv``
    (path,label,identity,evidence_path; paths relative to ``out``). Returns the manifest's path."""
    out = Path(out)
    for label in _classes(task):
        (out / label).mkdir(parents=True, exist_ok=True)
        (out / "evidence" / label).mkdir(parents=True, exist_ok=True)
    rows = []
    width = max(4, len(str(max(n - 1, 0))))
    phantoms = iter_phantoms(task, n, seed, identity)
    for i, ph in enumerate(tqdm(phantoms, total=n, desc=f"{task} phantoms", disable=not progress)):
        name = f"{ph.label}/{task}_{i:0{width}d}.png"
        write_image(out / name, cv2.cvtColor(ph.rgb, cv2.COLOR_RGB2BGR))
        write_image(out / "evidence" / name, ph.evidence.astype(np.uint8) * 255)
        rows.append((name, ph.label, ph.identity, f"evidence/{name}"))
    manifest = out / "manifest.csv"
    write_csv(manifest, ("path", "label", "identity", "evidence_path"), rows)
    log.info("wrote %d %s phantoms (%s identity) to %s", n, task, identity, out)
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m train.phantoms.face --task skin --n 200 --seed 0 --out DIR``."""
    parser = argparse.ArgumentParser(
        prog="python -m train.phantoms.face",
        description="Write synthetic face-screening phantoms (skin conditions, syndrome-like shape "
                    "changes, or the autism demo's artificial forehead marker) as an ImageFolder "
                    "layout with evidence masks and manifest.csv. "
                    + " ".join(r.phantom_note for r in SCREENING.rows.values()))
    parser.add_argument("--task", required=True, choices=list(SCREENING.rows), help="screening task")
    parser.add_argument("--n", type=int, default=200, help="number of phantoms, balanced (default: 200)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default: 0)")
    parser.add_argument("--identity", choices=IDENTITIES, default="train",
                        help="train: grace_hopper.jpg; held_out: scikit-image's astronaut (default: train)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    write_dataset(args.out, args.task, args.n, args.seed, args.identity, progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
