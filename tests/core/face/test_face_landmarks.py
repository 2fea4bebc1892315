"""core.face.landmarks on a real portrait: matplotlib's public-domain grace_hopper.jpg."""
from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from matplotlib import cbook
from PIL import Image

from core.face import landmarks as landmarks_module
from core.face.landmarks import (
    LANDMARKS,
    N_LANDMARKS,
    FaceError,
    FaceLandmarks,
    NoFaceError,
    detect_landmarks,
    oriented_rgb,
)


def _portrait_bytes() -> bytes:
    """The JPEG's bytes; get_sample_data gives a path or an open file depending on version."""
    src = cbook.get_sample_data("grace_hopper.jpg")
    if hasattr(src, "read"):
        with src:
            return src.read()
    return Path(src).read_bytes()


@pytest.fixture(scope="module")
def photo_bytes() -> bytes:
    return _portrait_bytes()


@pytest.fixture(scope="module")
def rgb(photo_bytes: bytes) -> np.ndarray:
    return oriented_rgb(photo_bytes)


@pytest.fixture(scope="module")
def lm(rgb: np.ndarray) -> FaceLandmarks:
    return detect_landmarks(rgb)


def _encode(image: np.ndarray | Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buf, fmt, **kw)
    return buf.getvalue()


def _mean_shift(a: FaceLandmarks, b: FaceLandmarks) -> float:
    return float(np.abs(a.xy - b.xy).mean())


def test_478_landmarks_inside_the_image(lm: FaceLandmarks, rgb: np.ndarray) -> None:
    h, w = rgb.shape[:2]
    assert lm.points.shape == (N_LANDMARKS, 3) and lm.points.dtype == np.float32
    assert lm.image_shape == (h, w) and lm.n_faces == 1 and lm.notices == ()
    x0, y0, x1, y1 = lm.bbox
    assert 0 <= x0 < x1 < w and 0 <= y0 < y1 < h
    assert 0.25 * w < x1 - x0 < w  # the portrait's face, not a speck
    assert not lm.points.flags.writeable


def test_named_landmarks_sit_where_the_anatomy_puts_them(lm: FaceLandmarks) -> None:
    x = {name: float(lm.point(name)[0]) for name in LANDMARKS}
    y = {name: float(lm.point(name)[1]) for name in LANDMARKS}
    # Subject's right is the image's left in an unmirrored frontal photo.
    assert (x["right_zygion"] < x["right_eye_outer"] < x["right_iris"] < x["right_eye_inner"]
            < x["nasion"] < x["left_eye_inner"] < x["left_iris"] < x["left_eye_outer"]
            < x["left_zygion"])
    assert x["right_cheilion"] < x["stomion"] < x["left_cheilion"]
    assert x["right_alare"] < x["pronasale"] < x["left_alare"]
    midline = ["forehead_top", "glabella", "nasion", "pronasale", "subnasale",
               "labrale_superius", "stomion", "labrale_inferius", "menton"]
    assert [y[n] for n in midline] == sorted(y[n] for n in midline)
    for side in ("right", "left"):
        assert y[f"{side}_eye_upper"] < y[f"{side}_iris"] < y[f"{side}_eye_lower"]
    eyes = [y[n] for n in LANDMARKS if "eye" in n or "iris" in n]
    assert max(eyes) < min(y["right_cheilion"], y["left_cheilion"], y["labrale_superius"])


def test_extreme_points_are_the_named_ones(lm: FaceLandmarks) -> None:
    oval = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
            377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
    nose_outline = [2, 97, 98, 64, 48, 115, 220, 45, 4, 275, 440, 344, 278, 294, 327, 326, 129, 358]
    xs = lm.xy[:, 0]
    assert xs[LANDMARKS["right_zygion"]] <= xs[oval].min() + 2
    assert xs[LANDMARKS["left_zygion"]] >= xs[oval].max() - 2
    assert xs[LANDMARKS["right_alare"]] <= xs[nose_outline].min() + 1
    assert xs[LANDMARKS["left_alare"]] >= xs[nose_outline].max() - 1
    assert lm.xy[LANDMARKS["menton"], 1] >= lm.xy[oval, 1].max() - 1


def test_unknown_landmark_name_lists_the_known_ones(lm: FaceLandmarks) -> None:
    with pytest.raises(KeyError, match="nasion"):
        lm.point("nose_bridge")


def test_exif_orientation_is_honoured(photo_bytes: bytes, rgb: np.ndarray, lm: FaceLandmarks) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": how phones store portraits
    stored = Image.fromarray(rgb).transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
    data = _encode(stored, "JPEG", quality=95, exif=exif)
    assert Image.open(io.BytesIO(data)).size == (rgb.shape[0], rgb.shape[1])  # stored sideways
    upright = oriented_rgb(data)
    assert upright.shape == rgb.shape
    assert _mean_shift(detect_landmarks(upright), lm) < 1.0
    assert np.abs(detect_landmarks(upright).xy - lm.xy).max() < 3.0


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16", "CMYK"])
def test_any_pil_mode_becomes_rgb_uint8(rgb: np.ndarray, mode: str) -> None:
    pil = Image.fromarray(rgb)
    if mode == "I;16":
        pil = Image.fromarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257)
    else:
        pil = pil.convert(mode)
    out = oriented_rgb(_encode(pil, "JPEG" if mode == "CMYK" else "PNG"))
    assert out.shape == rgb.shape and out.dtype == np.uint8 and out.flags.c_contiguous
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(float)
    assert np.abs(out.mean(axis=2) - grey).mean() < 12  # same picture, not a rescaled one


@pytest.mark.parametrize("layout", ["rgba", "uint16", "grey"])
def test_array_layouts_give_the_same_face(rgb: np.ndarray, lm: FaceLandmarks, layout: str) -> None:
    arrays = {
        "rgba": np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]),
        "uint16": rgb.astype(np.uint16) * 257,
        "grey": cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY),
    }
    found = detect_landmarks(arrays[layout])
    if layout == "grey":  # colour is information: close, not identical
        assert _mean_shift(found, lm) < 2.0
    else:
        np.testing.assert_array_equal(found.points, lm.points)


@pytest.mark.parametrize("data", [b"", b"definitely not a photo", b"\xff\xd8\xff\xe0" + bytes(64)],
                         ids=["empty", "text", "broken_jpeg"])
def test_unreadable_bytes_raise_face_error(data: bytes) -> None:
    with pytest.raises(FaceError, match="cannot read the photo"):
        oriented_rgb(data)


def test_truncated_jpeg_raises_face_error(photo_bytes: bytes) -> None:
    with pytest.raises(FaceError):
        oriented_rgb(photo_bytes[: len(photo_bytes) // 3])


@pytest.mark.parametrize("shape", [(0, 0, 3), (40, 40, 2), (4, 40, 40, 3)])
def test_unusable_array_shapes_raise_face_error(shape: tuple[int, ...]) -> None:
    with pytest.raises(FaceError, match="expected an HxW grey or HxWx3 RGB photo"):
        detect_landmarks(np.zeros(shape, np.uint8))


def test_pixel_limit(monkeypatch: pytest.MonkeyPatch, photo_bytes: bytes, rgb: np.ndarray) -> None:
    monkeypatch.setattr(landmarks_module, "MAX_PIXELS", 100_000)
    with pytest.raises(FaceError, match="downscale"):
        oriented_rgb(photo_bytes)
    with pytest.raises(FaceError, match="over the limit"):
        detect_landmarks(rgb)


def test_huge_photo_is_reduced_but_landmarks_stay_in_its_pixels(
        monkeypatch: pytest.MonkeyPatch, rgb: np.ndarray, lm: FaceLandmarks) -> None:
    monkeypatch.setattr(landmarks_module, "DETECT_MAX_SIDE", 300)  # as if the photo were huge
    reduced = detect_landmarks(rgb)
    assert reduced.image_shape == lm.image_shape
    assert _mean_shift(reduced, lm) < 2.0


@pytest.mark.parametrize("kind", ["blank", "noise"])
def test_no_face_raises_no_face_error(kind: str) -> None:
    image = (np.full((480, 640, 3), 200, np.uint8) if kind == "blank"
             else np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8))
    with pytest.raises(NoFaceError, match="no face found: use a frontal, well-lit photo"):
        detect_landmarks(image)


def test_two_faces_the_largest_is_analysed(rgb: np.ndarray, lm: FaceLandmarks) -> None:
    h, w = rgb.shape[:2]
    canvas = np.full((h, w + w // 2, 3), 255, np.uint8)
    canvas[:, w // 2:] = rgb  # full size on the right, so that "the first face" would be wrong
    canvas[h // 4: h // 4 + h // 2, : w // 2] = cv2.resize(rgb, (w // 2, h // 2),
                                                          interpolation=cv2.INTER_AREA)
    found = detect_landmarks(canvas)
    assert found.n_faces == 2
    assert found.notices == ("2 faces found; the largest is analysed",)
    shifted = FaceLandmarks(lm.points + np.array([w // 2, 0, 0], np.float32), canvas.shape[:2])
    assert _mean_shift(found, shifted) < 4.0


def test_concurrent_sessions_get_identical_results(rgb: np.ndarray, lm: FaceLandmarks) -> None:
    graph = landmarks_module._MESH  # built by the lm fixture
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: detect_landmarks(rgb), range(8)))
    for found in results:
        np.testing.assert_array_equal(found.points, lm.points)
    assert graph is not None and landmarks_module._MESH is graph  # one graph per process


def test_face_landmarks_checks_its_points() -> None:
    with pytest.raises(FaceError, match="Nx3"):
        FaceLandmarks(np.zeros((478, 2)), (10, 10))


@pytest.mark.parametrize("name", ["grace_hopper.jpg", "skimage_astronaut.jpg"])
def test_every_bundled_portrait_gives_a_face_with_eyes_above_the_mouth(name: str) -> None:
    path = Path(__file__).resolve().parents[3] / "data_samples" / "face" / name
    photo = oriented_rgb(path)
    lm = detect_landmarks(photo)
    h, w = photo.shape[:2]
    assert lm.points.shape == (N_LANDMARKS, 3) and lm.n_faces == 1
    assert (lm.xy >= 0).all() and (lm.xy[:, 0] < w).all() and (lm.xy[:, 1] < h).all()
    eyes_y = lm.xy[[LANDMARKS["right_iris"], LANDMARKS["left_iris"]], 1]
    mouth_y = lm.xy[[13, 14], 1].mean()  # inner lip midpoints
    assert (eyes_y < mouth_y - 0.1 * (lm.bbox[3] - lm.bbox[1])).all()
    right, left = lm.xy[LANDMARKS["right_iris"], 0], lm.xy[LANDMARKS["left_iris"], 0]
    assert right < left  # the subject's right eye is on the image's left in a frontal photo


def test_two_faces_are_never_averaged_together(rgb: np.ndarray) -> None:
    half = cv2.resize(rgb, (256, 300))
    both = np.concatenate([half, half[:, ::-1]], axis=1)  # two equal faces: the mirror swaps them
    lm = landmarks_module.detect_landmarks(both)
    x = lm.points[:, 0]
    assert lm.n_faces == 2 and (x.max() < 256 or x.min() >= 256), (x.min(), x.max())  # one face only


@pytest.mark.parametrize("width", [80, 120])
def test_a_face_too_small_to_measure_is_refused(rgb: np.ndarray, width: int) -> None:
    small = cv2.resize(rgb, (width, round(width * rgb.shape[0] / rgb.shape[1])), interpolation=cv2.INTER_AREA)
    canvas = np.full((256, 256, 3), 120, np.uint8)
    canvas[10:10 + small.shape[0], 10:10 + small.shape[1]] = small
    with pytest.raises(landmarks_module.FaceTooSmallError, match="px across: too small"):
        landmarks_module.detect_landmarks(canvas)
