"""The images the modality check learns from, each with its class, source and split group.

Real, from the shared data (split by the dataset's own unit, never by frame):

* ``hc18`` fetal head ultrasound frames (exam) -> ultrasound;
* ``nerve`` brachial plexus ultrasound frames (subject) -> ultrasound;
* ``lgg`` LGG MRI slices, three sequences (patient) -> mri; a view is one sequence or their
  luminance, as a TIFF upload shows it; near-blank slices (grey std < 5) are left out;
* ``fasseg`` face photographs (person) -> other.

Training-only extras, never scored as validation: phantoms of the three scan tasks (so the bundled
phantom samples pass), the sample pictures of scikit-image and scikit-learn (not the astronaut: the
face page's bundled sample stays unseen), scikit-image's small LFW face crops (many people), and
drawn pages of text, charts and shapes (so "other" is more than lab portraits).
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from skimage import data as skdata
from sklearn.datasets import load_sample_images

from core.datasets import read_hc18, read_kaggle_3m, read_nerve_images
from core.datasets.fasseg import read_fasseg
from core.io.image import load_image, to_gray_u8, to_rgb_u8
from core.models.modality import MODALITIES
from train.phantoms import brain_mri, fetal_head, nerve

log = logging.getLogger(__name__)
MAX_SIDE = 320  # pixels kept per image (the network sees 128)
SOURCE_CLASS = {"hc18": "ultrasound", "nerve": "ultrasound", "lgg": "mri", "fasseg": "other",
                "fetal_phantom": "ultrasound", "nerve_phantom": "ultrasound", "brain_phantom": "mri",
                "pictures": "other", "lfw": "other", "drawn": "other"}
REAL_SOURCES = ("hc18", "nerve", "lgg", "fasseg")
SKIMAGE = ("camera", "coffee", "chelsea", "rocket", "coins", "page", "text", "horse", "moon",
           "clock", "hubble_deep_field", "immunohistochemistry", "brick", "grass", "gravel", "colorwheel",
           "logo", "checkerboard", "binary_blobs", "shepp_logan_phantom", "cell", "retina")


@dataclass(frozen=True)
class Item:
    """One picture: ``image`` uint8 (HxW grey, HxWx3 RGB photo, or HxWx3 MRI sequences)."""

    image: np.ndarray
    source: str
    group: str

    @property
    def label(self) -> int:
        """Index of its modality in :data:`core.models.modality.MODALITIES`."""
        return MODALITIES.index(SOURCE_CLASS[self.source])


def shrink(image: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """At most ``max_side`` pixels on the long side (area interpolation), uint8."""
    h, w = image.shape[:2]
    f = max_side / max(h, w)
    image = np.ascontiguousarray(image)
    if f < 1:
        image = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return image


def grey_view(item: Item, rng: np.random.Generator | None = None) -> np.ndarray:
    """The grey picture the gate sees: luminance for photos; for an MRI slice one sequence or the
    luminance of the three (random with ``rng``, else the luminance, as a TIFF upload arrives)."""
    img = item.image
    if img.ndim == 2:
        return img
    if item.source == "lgg" and rng is not None:
        k = int(rng.integers(0, 4))
        if k < 3:
            return np.ascontiguousarray(img[..., k])
    return to_gray_u8(img)  # as core.predict.modality.prepare sees an upload


def read_real(root: Path) -> Iterator[Item]:
    """Every usable real picture under ``root`` (the shared data folder); a dataset folder that is
    missing is skipped with a warning (the card's counts show what was used)."""
    readers = {"hc18": read_hc18, "nerve/positives": read_nerve_images,
               "lgg": read_kaggle_3m, "fasseg": read_fasseg}
    for sub, read in readers.items():
        if not (root / sub).is_dir():
            log.warning("%s: missing, skipped", root / sub)
            continue
        source = sub.split("/")[0]
        for case in read(root / sub):
            if source == "fasseg":
                yield Item(shrink(to_rgb_u8(load_image(case.image_path))), source, f"fasseg_{case.group}")
            elif source != "lgg" or to_gray_u8(case.image).std() >= 5.0:
                yield Item(shrink(case.image), source, f"{source}_{case.group}")


def read_extras(n_phantoms: int, seed: int) -> Iterator[Item]:
    """Training-only pictures: phantoms of each scan task, scikit-image samples, drawn pages."""
    for i, ph in enumerate(fetal_head.generate(n_phantoms, seed)):
        yield Item(shrink(ph.image), "fetal_phantom", f"fetal_phantom_{i}")
    per_subject = 5
    for ph in nerve.generate(max(1, n_phantoms // per_subject), per_subject, seed):
        yield Item(shrink(ph.image), "nerve_phantom", f"nerve_phantom_{ph.subject}")
    rng = np.random.default_rng(seed)
    for ph in brain_mri.generate(max(1, n_phantoms // 4), seed):
        z = ph.image.shape[0]
        for k in sorted({int(v) for v in rng.integers(z // 4, max(z // 4 + 1, 3 * z // 4), 4)}):
            yield Item(shrink(to_gray_u8(ph.image[k])), "brain_phantom", f"brain_phantom_{ph.name}")
    for name in SKIMAGE:
        try:
            pic = np.asarray(getattr(skdata, name)())
        except Exception:  # noqa: BLE001 -- a sample missing from this scikit-image is skipped
            continue
        pic = pic[..., :3] if pic.ndim == 3 else pic
        yield Item(shrink(to_gray_u8(pic.astype(np.uint8) if pic.dtype == bool else pic)), "pictures", name)
    for k, pic in enumerate(load_sample_images().images):
        yield Item(shrink(to_gray_u8(pic)), "pictures", f"sklearn_{k}")
    for k, face in enumerate(skdata.lfw_subset()[:n_phantoms]):  # 25x25 grey faces, many people
        yield Item(to_gray_u8(face), "lfw", f"lfw_{k}")
    for i in range(n_phantoms):
        yield Item(drawn_picture(np.random.default_rng([seed, i])), "drawn", f"drawn_{i}")


def drawn_picture(rng: np.random.Generator, size: tuple[int, int] = (240, 320)) -> np.ndarray:
    """A page of text lines, a line chart, or coloured shapes, in grey: pictures that are neither
    scans nor faces."""
    h, w = size
    kind = int(rng.integers(0, 3))
    bg = int(rng.integers(180, 256)) if kind < 2 else int(rng.integers(0, 256))
    img = np.full((h, w), bg, np.uint8)
    ink = int(rng.integers(0, 90)) if bg > 127 else int(rng.integers(160, 256))
    if kind == 0:  # text
        y = int(rng.integers(15, 30))
        while y < h - 5:
            words = "".join(chr(int(c)) for c in rng.integers(97, 123, int(rng.integers(8, 30))))
            cv2.putText(img, words, (int(rng.integers(2, 20)), y), cv2.FONT_HERSHEY_SIMPLEX,
                        float(rng.uniform(0.3, 0.8)), ink, 1, cv2.LINE_AA)
            y += int(rng.integers(12, 28))
    elif kind == 1:  # chart
        cv2.line(img, (20, h - 20), (w - 10, h - 20), ink, 1)
        cv2.line(img, (20, 10), (20, h - 20), ink, 1)
        for _ in range(int(rng.integers(1, 4))):
            ys = np.cumsum(rng.normal(0, 8, 30)) + rng.uniform(40, h - 60)
            pts = np.stack([np.linspace(22, w - 12, 30), np.clip(ys, 10, h - 22)], 1).astype(np.int32)
            cv2.polylines(img, [pts], False, int(rng.integers(0, 256)), int(rng.integers(1, 3)), cv2.LINE_AA)
    else:  # shapes
        for _ in range(int(rng.integers(3, 12))):
            c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            colour = int(rng.integers(0, 256))
            if rng.random() < 0.5:
                cv2.circle(img, c, int(rng.integers(5, 60)), colour, -1)
            else:
                corner = (c[0] + int(rng.integers(5, 90)), c[1] + int(rng.integers(5, 90)))
                cv2.rectangle(img, c, corner, colour, -1)
    return img


def augment(grey: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """A random view of a grey picture, SxS float32 on 0..1: crop (55-100% of the area, any
    aspect 0.7-1.4), a black surround, mirror, tilt, letterbox bands, contrast / brightness / gamma,
    blur, noise and JPEG artefacts."""
    h, w = grey.shape
    area = rng.uniform(0.55, 1.0) * h * w
    aspect = float(np.exp(rng.uniform(np.log(0.7), np.log(1.4))))
    ch = int(min(h, round(np.sqrt(area / aspect))))
    cw = int(min(w, round(np.sqrt(area * aspect))))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    img = grey[y0:y0 + ch, x0:x0 + cw]
    if rng.random() < 0.2:  # on a black surround, as scans are: the surround alone tells nothing
        f = rng.uniform(0.5, 0.9)
        small = cv2.resize(np.ascontiguousarray(img), (max(1, int(cw * f)), max(1, int(ch * f))),
                           interpolation=cv2.INTER_AREA)
        canvas = np.zeros_like(img)
        oy, ox = int(rng.integers(0, ch - small.shape[0] + 1)), int(rng.integers(0, cw - small.shape[1] + 1))
        canvas[oy:oy + small.shape[0], ox:ox + small.shape[1]] = small
        img = canvas
    if rng.random() < 0.5:
        img = img[:, ::-1]
    if rng.random() < 0.3:
        m = cv2.getRotationMatrix2D((cw / 2, ch / 2), float(rng.uniform(-20, 20)), 1.0)
        img = cv2.warpAffine(np.ascontiguousarray(img), m, (cw, ch), borderMode=cv2.BORDER_CONSTANT)
    if rng.random() < 0.25:  # letterbox bands, as resized copies carry
        pad = int(rng.uniform(0.05, 0.25) * max(ch, cw))
        img = (cv2.copyMakeBorder(np.ascontiguousarray(img), pad, pad, 0, 0, cv2.BORDER_CONSTANT)
               if rng.random() < 0.5 else
               cv2.copyMakeBorder(np.ascontiguousarray(img), 0, 0, pad, pad, cv2.BORDER_CONSTANT))
    img = cv2.resize(np.ascontiguousarray(img), (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    img = img * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)
    img = 255.0 * (np.clip(img, 0, 255) / 255.0) ** rng.uniform(0.7, 1.4)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 1.5)))
    if rng.random() < 0.3:
        img = img + rng.normal(0, rng.uniform(2, 8), img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else img
    return img.astype(np.float32) / 255.0
