"""Brain MRI phantoms with known tumour labels, for training and testing the brain tumour model.

Two kinds of anatomy:

* **The real slice** matplotlib ships (``s1045.ima.gz``: one 256x256 sagittal T1-weighted slice,
  big-endian uint16) with a tumour inserted inside its brain. Real anatomy, one slice only.
* **Procedural head volumes**: an ellipsoidal head with scalp fat, skull, CSF, folded cortex, white
  matter, two lateral ventricles and a falx, a smooth bias field and Rician noise, on a grid of
  ``Z x 256 x 256`` voxels (display orientation: slices inferior -> superior, rows anterior ->
  posterior, columns patient right -> left).

The tumour is drawn the same way in both: an irregular ellipsoid (boundary perturbed by smooth
noise) with an enhancing rim around a necrotic core, or a solid enhancing mass, or a non-enhancing
mass; around it oedema that spreads further into white matter than into grey matter and never
into CSF or bone. The contrast is T1-weighted post-contrast-like: the rim is brighter than white
matter, the necrotic core dark, the oedema darker than the tissue it replaces. Labels follow BraTS:
1 necrotic / non-enhancing core, 2 oedema, 4 enhancing tumour; the whole tumour is ``label > 0``.

    python -m train.phantoms.brain_mri --out data/brain_phantoms --volumes 20 --seed 9001

writes ``imagesTr/``, ``labelsTr/`` (NIfTI) and ``dataset.json``, the layout ``core.datasets``
reads as ``nifti_pairs``. These are not patient data; a model trained on them has learnt phantoms.
"""
from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import ndimage

LABELS = {0: "background", 1: "necrotic / non-enhancing core", 2: "oedema", 4: "enhancing tumour"}
NECROTIC, OEDEMA, ENHANCING = 1, 2, 4
# Tissue intensities on the T1-like scale of the real slice (its 99.5th percentile = 1).
AIR, SCALP, SKULL, CSF, GREY, WHITE = 0.0, 0.9, 0.06, 0.13, 0.5, 0.76
IN_PLANE = 256
REAL_SLICE_MM = 0.94  # s1045 states no spacing; an adult head fills ~240 mm of its 256 px


@dataclass(frozen=True)
class BrainPhantom:
    """One phantom volume (a real slice is a volume of one slice).

    Attributes:
        image: ZxHxW uint16 MR signal (arbitrary units, as scanners store it).
        label: ZxHxW uint8 BraTS labels (0, 1, 2, 4).
        spacing_mm: (slice, row, col) voxel size in mm.
        name: case name, unique within a seed.
        source: ``"procedural"`` or ``"s1045"`` (the real slice).
    """

    image: np.ndarray
    label: np.ndarray
    spacing_mm: tuple[float, float, float]
    name: str
    source: str

    @property
    def tumour(self) -> np.ndarray:
        """ZxHxW bool whole-tumour mask."""
        return self.label > 0


# ---------------------------------------------------------------- noise and geometry
def smooth_noise(shape: tuple[int, ...], scale_vox: tuple[float, ...],
                 rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-SD smooth random field of ``shape``; features about ``scale_vox`` voxels wide."""
    coarse = tuple(max(2, math.ceil(s / max(c, 1e-3)) + 2) for s, c in zip(shape, scale_vox))
    field = ndimage.zoom(rng.standard_normal(coarse).astype(np.float32),
                         [s / (c - 1.5) for s, c in zip(shape, coarse)], order=1, prefilter=False)
    field = field[tuple(slice(0, s) for s in shape)]
    # Linear interpolation leaves facets on a coarse grid; a blur of half a feature rounds them off.
    field = ndimage.gaussian_filter(field, [0.35 * c if s > 1 else 0 for s, c in zip(shape, scale_vox)])
    return (field - field.mean()) / (field.std() + 1e-6)


def _grid(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> list[np.ndarray]:
    """Voxel-centre coordinates in mm (z, y, x), origin at the grid centre (open grids)."""
    return [((np.arange(n) - (n - 1) / 2) * s).reshape([-1 if i == k else 1 for i in range(3)])
            for k, (n, s) in enumerate(zip(shape, spacing))]


# ---------------------------------------------------------------- procedural head
def procedural_head(rng: np.random.Generator, slices: int, spacing: tuple[float, float, float]
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tissue intensity (ZxHxW float32, T1-like), brain mask and white-matter mask of a head."""
    shape = (slices, IN_PLANE, IN_PLANE)
    z, y, x = _grid(shape, spacing)
    z = z - rng.uniform(-0.25, 0.05) * slices * spacing[0]  # the head's centre: lower than the grid's
    angle = math.radians(rng.uniform(-10, 10))
    xr, yr = x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle)
    semi = (rng.uniform(72, 88), rng.uniform(86, 98), rng.uniform(66, 78))  # z, y (AP), x (LR) mm
    rho = np.sqrt((z / semi[0]) ** 2 + (yr / semi[1]) ** 2 + (xr / semi[2]) ** 2)
    scale = (8 / spacing[0], 8 / spacing[1], 8 / spacing[2])
    fine = (5 / spacing[0], 5 / spacing[1], 5 / spacing[2])
    depth = (1 - rho) * min(semi) * (1 + 0.03 * smooth_noise(shape, tuple(4 * s for s in scale), rng))
    scalp, skull, csf = rng.uniform(4, 7), rng.uniform(5, 8), rng.uniform(1.5, 3.5)
    cortex_top = scalp + skull + csf
    folds = smooth_noise(shape, fine, rng)
    img = np.full(shape, AIR, np.float32)
    img[depth > 0] = SCALP
    img[depth > scalp] = SKULL
    img[depth > scalp + skull] = CSF
    brain = depth > cortex_top
    white = depth > cortex_top + 3.5 + 2.5 * folds
    img[brain] = GREY
    img[white & brain] = WHITE
    sulci = brain & (depth < cortex_top + 9) & (smooth_noise(shape, fine, rng) > 0.9)
    img[sulci & ~white] = CSF
    ventricles = _ventricles(z, yr, xr, rng)
    falx = (np.abs(xr) < 1.2) & (z > 5) & brain
    img[(ventricles | falx) & brain] = CSF
    white &= brain & ~ventricles & ~falx
    img += 0.03 * smooth_noise(shape, scale, rng) * (img > SKULL)
    return img, brain & ~ventricles, white


def _ventricles(z: np.ndarray, y: np.ndarray, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two lateral ventricles: thin crescents either side of the midline, anterior of centre."""
    width, length, height = rng.uniform(4, 9), rng.uniform(20, 28), rng.uniform(8, 13)
    z0, y0, gap = rng.uniform(0, 15), rng.uniform(-12, 0), rng.uniform(3, 6)
    out = np.zeros(np.broadcast_shapes(z.shape, y.shape, x.shape), bool)
    for side in (-1, 1):
        out |= (((x - side * (gap + width)) / width) ** 2 + ((y - y0) / length) ** 2
                + ((z - z0) / height) ** 2) < 1
    return out


# ---------------------------------------------------------------- the real slice
@lru_cache(maxsize=1)
def real_slice() -> tuple[np.ndarray, np.ndarray]:
    """The s1045 slice (256x256 float32, 99.5th percentile = 1) and a mask of its brain."""
    from matplotlib import cbook

    with cbook.get_sample_data("s1045.ima.gz") as f:  # matplotlib hands it over decompressed
        raw = np.frombuffer(f.read(), ">u2").reshape(IN_PLANE, IN_PLANE).astype(np.float32)
    img = raw / np.percentile(raw, 99.5)
    smooth = ndimage.gaussian_filter(img, 1.5)
    yy, xx = np.mgrid[:IN_PLANE, :IN_PLANE]
    # Brain above the skull base: bright enough, inside the upper ellipse of this sagittal view.
    mask = (smooth > 0.42) & ((((yy - 88) / 70) ** 2 + ((xx - 128) / 85) ** 2) < 1)
    mask = ndimage.binary_opening(mask, iterations=2)
    lab, n = ndimage.label(mask)
    mask = lab == 1 + int(np.argmax(ndimage.sum(mask, lab, range(1, n + 1))))
    mask = ndimage.binary_erosion(ndimage.binary_fill_holes(ndimage.binary_closing(mask, iterations=6)),
                                  iterations=3)
    img.flags.writeable = mask.flags.writeable = False
    return img, mask


# ---------------------------------------------------------------- tumours
def insert_tumour(img: np.ndarray, brain: np.ndarray, white: np.ndarray, spacing: tuple[float, float, float],
                  rng: np.random.Generator, centre_z_mm: float | None = None, kind: str | None = None
                  ) -> np.ndarray:
    """Draw one tumour into ``img`` (in place) inside ``brain``; returns its BraTS label volume.

    Args:
        img: ZxHxW float32 tissue intensities, changed in place.
        brain: ZxHxW bool where a tumour and its oedema may grow.
        white: ZxHxW bool white matter (oedema spreads further there).
        spacing: (slice, row, col) mm.
        rng: random generator.
        centre_z_mm: for a one-slice volume, the tumour centre's height above the slice (so the
            slice cuts the tumour anywhere); None to pick a centre voxel inside the brain.
        kind: ``"necrotic"`` (rim around a necrotic core), ``"solid"`` (enhancing throughout) or
            ``"non_enhancing"``; None picks one (60 / 20 / 20%).
    """
    shape = img.shape
    label = np.zeros(shape, np.uint8)
    if shape[0] == 1:
        deep = ndimage.binary_erosion(brain[0], iterations=12)[None]
    elif shape[0] <= 12:  # 6 erosions through a short stack would leave nothing: erode in-plane only
        in_plane = np.zeros((3, 3, 3), bool)
        in_plane[1] = ndimage.generate_binary_structure(2, 1)
        deep = ndimage.binary_erosion(brain, structure=in_plane, iterations=6)
    else:
        deep = ndimage.binary_erosion(brain, iterations=6)
    candidates = np.argwhere(deep)
    if not len(candidates):
        return label
    cz, cy, cx = candidates[rng.integers(len(candidates))]
    radius = rng.uniform(6, 24)  # mm, outer edge of the tumour (oedema excluded)
    axes = radius * rng.uniform(0.75, 1.25, 3)
    dz = (np.arange(shape[0]) - cz) * spacing[0] if centre_z_mm is None else np.full(shape[0], -centre_z_mm)
    dz = dz.reshape(-1, 1, 1)
    dy = ((np.arange(shape[1]) - cy) * spacing[1]).reshape(1, -1, 1)
    dx = ((np.arange(shape[2]) - cx) * spacing[2]).reshape(1, 1, -1)
    # Work only in the box the oedema can reach: whole-volume float fields would be slow.
    reach = radius * 1.3 + 30
    box = tuple(np.flatnonzero(np.abs(d.ravel()) <= reach) for d in (dz, dy, dx))
    if any(len(b) == 0 for b in box):
        return label
    sl = tuple(slice(int(b[0]), int(b[-1]) + 1) for b in box)
    dz, dy, dx = dz[sl[0]], dy[:, sl[1]], dx[:, :, sl[2]]
    sub = (dz.shape[0], dy.shape[1], dx.shape[2])
    scale = tuple(6 / s for s in spacing)
    r = np.sqrt((dz / axes[0]) ** 2 + (dy / axes[1]) ** 2 + (dx / axes[2]) ** 2)
    r = r * (1 + 0.18 * smooth_noise(sub, scale, rng))
    inside = brain[sl]
    picked = rng.choice(["necrotic", "solid", "non_enhancing"], p=[0.6, 0.2, 0.2])
    kind = kind or str(picked)  # drawn either way, so a seed gives the same anatomy whatever ``kind``
    tumour = (r < 1) & inside
    dist_mm = (r - 1) * radius  # approximate mm outside the tumour edge
    spread = rng.uniform(3, 16) * (1 + 0.5 * white[sl]) * (1 + 0.35 * smooth_noise(sub, scale, rng))
    spread = np.minimum(spread, 26.0)  # stays inside the box drawn around the tumour
    oedema = (dist_mm < spread) & ~tumour & inside
    sub_lab = label[sl]
    sub_img = img[sl]
    sub_lab[oedema] = OEDEMA
    sub_img[oedema] *= rng.uniform(0.45, 0.62)
    if kind == "non_enhancing":
        sub_lab[tumour] = NECROTIC
        sub_img[tumour] = rng.uniform(0.3, 0.45)
    else:
        sub_lab[tumour] = ENHANCING
        sub_img[tumour] = rng.uniform(0.95, 1.2)
        if kind == "necrotic":
            core = (r < 1 - rng.uniform(2, 5) / radius) & tumour
            sub_lab[core] = NECROTIC
            sub_img[core] = rng.uniform(0.12, 0.3)
    # A little partial-volume blur so that edges are not perfectly crisp.
    changed = sub_lab > 0
    if changed.any():
        blurred = ndimage.gaussian_filter(sub_img, (0 if shape[0] == 1 else 0.5, 0.7, 0.7))
        edge = ndimage.binary_dilation(changed, iterations=1)
        sub_img[edge] = blurred[edge]
    return label


def _acquire(tissue: np.ndarray, rng: np.random.Generator, spacing: tuple[float, float, float]) -> np.ndarray:
    """Bias field, Rician noise and a scanner scale: tissue intensities -> stored uint16 signal."""
    bias = 1 + rng.uniform(0.05, 0.2) * smooth_noise(tissue.shape, tuple(90 / s for s in spacing), rng)
    sigma = rng.uniform(0.015, 0.045)
    signal = tissue * bias
    noisy = np.hypot(signal + sigma * rng.standard_normal(signal.shape, np.float32),
                     sigma * rng.standard_normal(signal.shape, np.float32))
    return np.clip(noisy * rng.uniform(600, 3000), 0, 65535).astype(np.uint16)


def procedural_case(rng: np.random.Generator, name: str, slices: int | None = None,
                    tumours: int | None = None, kind: str | None = None) -> BrainPhantom:
    """A procedural head volume with 0-2 tumours (about 12% have none)."""
    slices = slices or int(rng.integers(28, 41))
    spacing = (round(float(rng.uniform(3.0, 5.0)), 2), *(round(float(rng.uniform(0.85, 1.0)), 3),) * 2)
    tissue, brain, white = procedural_head(rng, slices, spacing)
    label = np.zeros(tissue.shape, np.uint8)
    n = tumours if tumours is not None else int(rng.choice([0, 1, 2], p=[0.12, 0.78, 0.10]))
    for _ in range(n):
        label = np.maximum(label, insert_tumour(tissue, brain & (label == 0), white, spacing, rng, kind=kind))
    return BrainPhantom(_acquire(tissue, rng, spacing), label, spacing, name, "procedural")


def real_slice_case(rng: np.random.Generator, name: str) -> BrainPhantom:
    """The real s1045 slice, mirrored at random, with a tumour cut at a random height (10% none)."""
    img, brain = real_slice()
    tissue, brain = img.copy()[None], brain.copy()[None]
    white = tissue > 0.62
    spacing = (5.0, REAL_SLICE_MM, REAL_SLICE_MM)
    label = np.zeros(tissue.shape, np.uint8)
    if rng.random() > 0.1:
        label = insert_tumour(tissue, brain, white, spacing, rng, centre_z_mm=rng.uniform(-12, 12))
    if rng.random() < 0.5:
        tissue, label = tissue[:, :, ::-1], label[:, :, ::-1]
    return BrainPhantom(_acquire(np.ascontiguousarray(tissue), rng, spacing), np.ascontiguousarray(label),
                        spacing, name, "s1045")


def generate(n: int, seed: int, real_every: int = 6) -> Iterator[BrainPhantom]:
    """``n`` phantoms; every ``real_every``-th is the real slice (0: never), the rest volumes."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        name = f"brain_{seed}_{i:04d}"
        if real_every and i % real_every == real_every - 1:
            yield real_slice_case(rng, name)
        else:
            yield procedural_case(rng, name)


# ---------------------------------------------------------------- writer
def write_dataset(out: Path, phantoms: Iterator[BrainPhantom]) -> list[str]:
    """Write phantoms as ``imagesTr/NAME.nii.gz`` + ``labelsTr/NAME.nii.gz`` + ``dataset.json``."""
    from core.io.nifti import write_nifti

    (out / "imagesTr").mkdir(parents=True, exist_ok=True)
    (out / "labelsTr").mkdir(parents=True, exist_ok=True)
    names = []
    for ph in phantoms:
        write_nifti(out / "imagesTr" / f"{ph.name}.nii.gz", ph.image, ph.spacing_mm, dtype=np.uint16)
        write_nifti(out / "labelsTr" / f"{ph.name}.nii.gz", ph.label, ph.spacing_mm, dtype=np.uint8)
        names.append(ph.name)
    meta = {"name": "brain tumour phantoms", "description": "synthetic: NOT patient data (train/phantoms/"
            "brain_mri.py)", "modality": {"0": "T1-weighted post-contrast-like (synthetic)"},
            "labels": {str(k): v for k, v in LABELS.items()}, "numTraining": len(names),
            "training": [{"image": f"./imagesTr/{n}.nii.gz", "label": f"./labelsTr/{n}.nii.gz"}
                         for n in names]}
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    return names


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.phantoms.brain_mri", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    p.add_argument("--volumes", type=int, default=10, help="number of cases (default 10)")
    p.add_argument("--seed", type=int, default=9001)
    p.add_argument("--real-every", type=int, default=0,
                   help="every N-th case is the real one-slice s1045 case (default 0: volumes only)")
    args = p.parse_args(argv)
    names = write_dataset(args.out, generate(args.volumes, args.seed, args.real_every))
    print(f"wrote {len(names)} cases to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
