"""Facial anthropometry from mediapipe Face Mesh landmarks: the measurements a clinician checks.

``points`` is an Nx2 or Nx3 float array in image pixels (x right, y down; z is ignored: every
measurement is taken in the image plane, so a frontal photo is assumed and a turned head
shortens the lengths across the turn). N is 468 (mesh) or 478 (mesh + the refined iris points
468-477). Indices follow mediapipe's canonical mesh; ``right``/``left`` are the SUBJECT's sides as
in mediapipe's ``FACEMESH_RIGHT_EYE`` (the subject's right eye is on the image's left).

Landmarks (Farkas abbreviations; right / left), checked on mediapipe's canonical face model
(x -> the subject's left, y up, z towards the camera) and on matplotlib's ``grace_hopper.jpg``:

- exocanthion ex 33 / 263, endocanthion en 133 / 362: ends of FACEMESH_RIGHT/LEFT_EYE.
- pupil 468 / 473: refined iris centres; with 468 points, the eye contour centroid (:func:`with_iris`).
- alare al 129 / 358: the most lateral nose-wing points (|x| 1.79 on the canonical model vs 1.59
  for 64 / 294 on FACEMESH_NOSE's outline).
- cheilion ch 61 / 291: ends of FACEMESH_LIPS. zygion zy 234 / 454: FACEMESH_FACE_OVAL's widest
  points below the temples, between eye and nose-tip levels.
- midline: nasion n 168 (deepest point between brows and nose), subnasale sn 2 (meets the nostril
  base line 98-97-2-326-327), labrale superius ls 0, stomion sto 13 (upper lip's inner edge),
  menton me 152 (lowest point).

Lengths are reported as ratios to a reference distance (interpupillary by default, or the outer
canthal distance), which makes them independent of photo size. When the photo's scale is known
(``mm_per_px``) the same :class:`Measurement` also carries ``value_mm``; angles and indices are
unitless and never have one.

Facial asymmetry: the midline is the total-least-squares line through the 28 midline landmarks
(:data:`MIDLINE`, every self-mirrored vertex of the canonical mesh); each right landmark of
:data:`ASYMMETRY_PAIRS` is reflected across it and its distance to the left partner is averaged,
as % of the interpupillary distance. The 70 pairs walk mediapipe's paired connection sets from the
same end (eyes from the outer corner, brows from the lateral end, face oval from the top, lips from
the corner, nose wings from subnasale), plus alare and the iris centres; each is an exact mirror
pair of the canonical model. Face Mesh itself is not mirror-consistent: on a 512x600 portrait and
its mirror image the canthi move by ~2 px, so right/left differences under ~5% (lengths) or ~5
degrees (slants) are within its noise.
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

N_MESH, N_REFINED = 468, 478
RIGHT_EYE_CONTOUR = (33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173)
LEFT_EYE_CONTOUR = (263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398)
MIDLINE = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 164, 0, 11, 12, 13, 14, 15, 16,
           17, 18, 200, 199, 175, 152)
_RIGHT_LEFT = {  # group -> (right indices, left indices), partners in the same position
    "eyes": (RIGHT_EYE_CONTOUR, LEFT_EYE_CONTOUR),
    "brows": ((46, 53, 52, 65, 55, 70, 63, 105, 66, 107),
              (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)),
    "lips": ((61, 146, 91, 181, 84, 185, 40, 39, 37, 78, 95, 88, 178, 87, 191, 80, 81, 82),
             (291, 375, 321, 405, 314, 409, 270, 269, 267, 308, 324, 318, 402, 317, 415, 310, 311, 312)),
    "nose": ((97, 98, 64, 48, 115, 220, 45, 129), (326, 327, 294, 278, 344, 440, 275, 358)),
    "face_oval": ((109, 67, 103, 54, 21, 162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148),
                  (338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377)),
    "irises": ((468,), (473,)),
}
ASYMMETRY_PAIRS: tuple[tuple[int, int], ...] = tuple(
    pair for right, left in _RIGHT_LEFT.values() for pair in zip(right, left, strict=True))

REFERENCES = MappingProxyType({"interpupillary": "interpupillary_distance",
                               "outer_canthal": "outer_canthal_distance"})
_UNITS = {"angle": "degrees", "index": "index", "percent": "%"}


@dataclass(frozen=True)
class MeasurementDef:
    """One row of the definitions table.

    Attributes:
        key: snake_case id. name: human name. kind: "length", "angle", "index" or "percent".
        definition: one plain sentence a clinician can check on the photo.
        landmarks: index pairs to draw as lines (the ones that define the measurement).
        side: "right", "left" (the subject's) or None.
    """

    key: str
    name: str
    kind: str
    definition: str
    landmarks: tuple[tuple[int, int], ...]
    side: str | None = None


@dataclass(frozen=True)
class Measurement:
    """One measured value on one face.

    Attributes:
        value: in ``unit``: "ratio to interpupillary distance" (or "... outer canthal distance")
            for lengths, else "degrees", "index" or "%".
        value_mm: the length in mm when a scale was given; None otherwise and for non-lengths.
        Other fields are copied from :class:`MeasurementDef`.
    """

    key: str
    name: str
    value: float
    unit: str
    definition: str
    landmarks: tuple[tuple[int, int], ...]
    side: str | None = None
    value_mm: float | None = None


def _d(key: str, name: str, kind: str, definition: str, *landmarks: tuple[int, int],
       side: str | None = None) -> tuple[str, MeasurementDef]:
    return key, MeasurementDef(key, name, kind, definition, tuple(landmarks), side)


_SLANT = ("Angle of the line from the inner to the outer corner of the {s} eye ({a} to {b}) against "
          "the line joining the two inner eye corners (133 to 362), positive when the outer corner "
          "is higher (upslanting).")
MEASUREMENTS: Mapping[str, MeasurementDef] = MappingProxyType(dict([
    _d("inner_canthal_distance", "Inner canthal distance", "length",
       "Distance between the inner corners of the eyes (endocanthion en-en, 133 to 362).", (133, 362)),
    _d("outer_canthal_distance", "Outer canthal distance", "length",
       "Distance between the outer corners of the eyes (exocanthion ex-ex, 33 to 263).", (33, 263)),
    _d("canthal_index", "Canthal index", "index",
       "Inner canthal distance divided by outer canthal distance, times 100.", (133, 362), (33, 263)),
    _d("palpebral_fissure_length_right", "Palpebral fissure length, right", "length",
       "Length of the right eye opening from its inner to its outer corner (133 to 33).", (133, 33),
       side="right"),
    _d("palpebral_fissure_length_left", "Palpebral fissure length, left", "length",
       "Length of the left eye opening from its inner to its outer corner (362 to 263).", (362, 263),
       side="left"),
    _d("palpebral_fissure_slant_right", "Palpebral fissure slant, right", "angle",
       _SLANT.format(s="right", a=133, b=33), (133, 33), (133, 362), side="right"),
    _d("palpebral_fissure_slant_left", "Palpebral fissure slant, left", "angle",
       _SLANT.format(s="left", a=362, b=263), (362, 263), (133, 362), side="left"),
    _d("interpupillary_distance", "Interpupillary distance", "length",
       "Distance between the centres of the two irises (468 to 473).", (468, 473)),
    _d("nasal_width", "Nasal width", "length",
       "Distance between the most lateral points of the nose wings (alare al-al, 129 to 358).",
       (129, 358)),
    _d("mouth_width", "Mouth width", "length",
       "Distance between the mouth corners (cheilion ch-ch, 61 to 291).", (61, 291)),
    _d("philtrum_length", "Philtrum length", "length",
       "Distance from the base of the nose (subnasale, 2) to the upper lip border on the midline "
       "(labrale superius, 0).", (2, 0)),
    _d("upper_face_height", "Upper face height", "length",
       "Distance from the root of the nose (nasion, 168) to the mouth opening on the midline "
       "(stomion, 13).", (168, 13)),
    _d("lower_face_height", "Lower face height", "length",
       "Distance from the base of the nose (subnasale, 2) to the lowest point of the chin "
       "(menton, 152).", (2, 152)),
    _d("facial_index", "Facial index", "index",
       "Face height (nasion 168 to menton 152) divided by face width (zygion 234 to 454, the widest "
       "points of the face outline at cheekbone level), times 100.", (168, 152), (234, 454)),
    _d("facial_asymmetry_index", "Facial asymmetry index", "percent",
       f"Mean distance between each of {len(ASYMMETRY_PAIRS)} left landmarks and its right partner "
       "mirrored across the fitted facial midline, as % of the interpupillary distance.",
       *ASYMMETRY_PAIRS),
]))


def with_iris(points: np.ndarray) -> np.ndarray:
    """Checked 478x2 float64 (x, y) points; with 468 points, iris points are estimated.

    Args:
        points: Nx2 or Nx3 pixel coordinates, N = 468 or 478.

    Returns:
        478x2 float64. For N = 468 the ten iris points 468-477 are all set to the centroid of
        their eye's 16-point contour (468-472 right, 473-477 left).

    Raises:
        ValueError: wrong shape, wrong number of points, or non-finite values.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] not in (2, 3):
        raise ValueError(f"expected Nx2 or Nx3 landmark points (x, y[, z]), got shape {pts.shape}")
    if len(pts) not in (N_MESH, N_REFINED):
        raise ValueError(f"expected {N_MESH} Face Mesh points or {N_REFINED} with the iris "
                         f"(refine_landmarks=True), got {len(pts)}")
    if not np.isfinite(pts).all():
        raise ValueError("landmark points contain NaN or infinite values; re-detect the face")
    xy = pts[:, :2].copy()
    if len(xy) == N_MESH:
        centres = [xy[list(c)].mean(axis=0) for c in (RIGHT_EYE_CONTOUR, LEFT_EYE_CONTOUR)]
        xy = np.vstack([xy, np.repeat(centres, 5, axis=0)])
    return xy


def measure_face(points: np.ndarray, *, reference: str = "interpupillary",
                 mm_per_px: float | None = None) -> list[Measurement]:
    """Every measurement of :data:`MEASUREMENTS` on one face, in that order.

    Args:
        points: Nx2 or Nx3 float landmark coordinates in pixels, N = 468 or 478.
        reference: distance the lengths are divided by: "interpupillary" or "outer_canthal".
        mm_per_px: photo scale at the face (mm per pixel); when given, lengths get ``value_mm``.

    Raises:
        ValueError: bad points, unknown reference, non-positive scale, or a zero reference length.
    """
    if reference not in REFERENCES:
        raise ValueError(f"unknown reference {reference!r}; choose one of {', '.join(REFERENCES)}")
    if mm_per_px is not None and not (math.isfinite(mm_per_px) and mm_per_px > 0):
        raise ValueError(f"mm_per_px must be a positive number, got {mm_per_px}")
    xy = with_iris(points)
    px = {k: _dist(xy, *d.landmarks[0]) for k, d in MEASUREMENTS.items() if d.kind == "length"}
    ref_px, width = px[REFERENCES[reference]], _dist(xy, 234, 454)
    if min(px["inner_canthal_distance"], px["outer_canthal_distance"], px["interpupillary_distance"],
           width) <= 0:
        raise ValueError("landmarks coincide (zero eye distance or face width): degenerate points")
    other = {
        "canthal_index": 100 * px["inner_canthal_distance"] / px["outer_canthal_distance"],
        "palpebral_fissure_slant_right": _slant(xy, 133, 33),
        "palpebral_fissure_slant_left": _slant(xy, 362, 263),
        "facial_index": 100 * _dist(xy, 168, 152) / width,
        "facial_asymmetry_index": 100 * _asymmetry(xy) / px["interpupillary_distance"],
    }
    out = []
    for key, d in MEASUREMENTS.items():
        length = d.kind == "length"
        value = px[key] / ref_px if length else float(other[key])
        mm = px[key] * mm_per_px if length and mm_per_px is not None else None
        out.append(Measurement(key, d.name, value, _unit(d.kind, reference), d.definition,
                               d.landmarks, d.side, mm))
    return out


def _unit(kind: str, reference: str) -> str:
    if kind == "length":
        return f"ratio to {REFERENCES[reference].replace('_', ' ')}"
    return _UNITS[kind]


def _dist(xy: np.ndarray, a: int, b: int) -> float:
    return float(np.hypot(*(xy[a] - xy[b])))


def _slant(xy: np.ndarray, inner: int, outer: int) -> float:
    """Degrees of inner->outer canthus above the en-en axis; rotation-invariant by construction."""
    axis = xy[362] - xy[133]
    axis /= np.hypot(*axis)
    up = np.array([axis[1], -axis[0]])  # axis turned towards the forehead (image y points down)
    v = xy[outer] - xy[inner]
    return math.degrees(math.atan2(float(v @ up), abs(float(v @ axis))))


def _asymmetry(xy: np.ndarray) -> float:
    """Mean px distance between each left point and its right partner mirrored across the midline."""
    mid = xy[list(MIDLINE)]
    centre = mid.mean(axis=0)
    direction = np.linalg.svd(mid - centre, full_matrices=False)[2][0]
    right, left = (xy[list(side)] - centre for side in zip(*ASYMMETRY_PAIRS))
    mirrored = 2 * np.outer(right @ direction, direction) - right
    return float(np.linalg.norm(mirrored - left, axis=1).mean())


def measurement_table(measurements: Iterable[Measurement]) -> list[dict]:
    """Rows for CSV/JSON: key, name, value, unit, value_mm (None if unknown), side, definition,
    landmarks (index pairs written as ``"133-362; 33-263"``)."""
    return [{"key": m.key, "name": m.name, "value": m.value, "unit": m.unit, "value_mm": m.value_mm,
             "side": m.side, "definition": m.definition,
             "landmarks": "; ".join(f"{a}-{b}" for a, b in m.landmarks)} for m in measurements]


def read_reference_table(data: bytes) -> list[dict[str, str]]:
    """The rows of a reference group CSV for :func:`zscores`: the wide table of
    ``train.face_measurements`` (one column per measurement) or long key / value rows.

    Raises:
        ValueError: not UTF-8 CSV text, or a table with neither layout's columns.
    """
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
        rows, header = list(reader), set(reader.fieldnames or ())
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"cannot be read as a CSV table: {exc}") from None
    if not (header & set(MEASUREMENTS) or {"key", "value"} <= header):
        raise ValueError(f"is not a reference group table: it has none of the measurement columns "
                         f"({', '.join(list(MEASUREMENTS)[:3])}, ...) that `python -m "
                         "train.face_measurements` writes, nor key / value rows; it is ignored")
    return rows


def zscores(measurements: Iterable[Measurement], reference_rows: Sequence[Mapping]) -> dict[str, float]:
    """z = (x - mean) / SD of each measurement against a reference group.

    Args:
        measurements: one face's measurements (:func:`measure_face`).
        reference_rows: the group's table, either wide (one row per photo, one column per key, as
            written by ``train.face_measurements``; CSV strings are fine, blanks are skipped) or long
            (rows of :func:`measurement_table` from several photos).

    Returns:
        key -> z (sample SD, ddof=1); NaN when fewer than 2 reference values or SD = 0.

    Raises:
        ValueError: the reference lengths are ratios to a different reference distance.
    """
    values: dict[str, list[tuple[float, str | None]]] = {}
    for row in reference_rows:
        for key, value, unit in _row_items(row):
            values.setdefault(key, []).append((value, unit))
    out = {}
    for m in measurements:
        pairs = values.get(m.key, [])
        bad = {u for _, u in pairs if u is not None and u != m.unit}
        if bad:
            raise ValueError(f"{m.key}: the reference group is in {bad.pop()!r} but this face in "
                             f"{m.unit!r}; recompute both with the same --reference")
        x = np.array([v for v, _ in pairs])
        sd = float(x.std(ddof=1)) if len(x) >= 2 else 0.0  # 0 also means "cannot say"
        out[m.key] = (m.value - float(x.mean())) / sd if sd > 0 else math.nan
    return out


def _row_items(row: Mapping) -> list[tuple[str, float, str | None]]:
    """(key, value, unit or None) of every usable measurement in one reference row."""
    if "key" in row and "value" in row:
        items = [(str(row["key"]), row["value"], row.get("unit") or None)]
    else:
        ref = row.get("reference") or None
        if ref is not None and ref not in REFERENCES:
            raise ValueError(f"unknown reference {ref!r} in the reference table")
        items = [(k, row[k], _unit(d.kind, ref) if ref or d.kind != "length" else None)
                 for k, d in MEASUREMENTS.items() if k in row]
    out = []
    for key, raw, unit in items:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            continue  # blank cell: that photo had no face
        if math.isfinite(value):
            out.append((key, value, unit))
    return out
