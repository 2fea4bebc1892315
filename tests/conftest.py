"""Suite-wide settings: torch on one thread for every test, and ``--reverse-order`` to check that
no test depends on the ones before it; a tiny FASSEG-layout folder of drawn faces for the face
parser's reader, trainer and evaluation tests."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--reverse-order", action="store_true",
                     help="run the selected tests last to first (an order-dependence check)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--reverse-order"):
        items.reverse()


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread whichever tests run first: several tests and the training CLIs they call
    set it, and the small tensors here gain nothing from a second core that other work shares."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _drawn_face(seed: int, size: tuple[int, int] = (120, 96)) -> tuple[np.ndarray, np.ndarray]:
    """A cartoon head in FASSEG's classes (label map) and a photo of it, drawn at 4x and shrunk so
    that the label image's edges are anti-aliased like FASSEG's."""
    h, w = size
    rng = np.random.default_rng(seed)
    big = np.zeros((h * 4, w * 4), np.uint8)  # background 0
    cx, cy = w * 2 + int(rng.integers(-8, 9)), h * 2 + int(rng.integers(-8, 9))
    cv2.ellipse(big, (cx, cy - 40), (w * 2 - 20, h * 2 - 40), 0, 0, 360, 1, -1)  # hair
    cv2.ellipse(big, (cx, cy + 20), (w * 2 - 60, h * 2 - 80), 0, 0, 360, 2, -1)  # skin
    for dx in (-60, 60):
        cv2.ellipse(big, (cx + dx, cy - 10), (28, 14), 0, 0, 360, 3, -1)  # eyes
    cv2.fillPoly(big, [np.array([[cx, cy], [cx - 24, cy + 70], [cx + 24, cy + 70]], np.int32)], 4)
    cv2.ellipse(big, (cx, cy + 120), (50, 18), 0, 0, 360, 5, -1)  # mouth
    colours = np.array(list(FASSEG_COLOURS), np.uint8)
    label_rgb = cv2.resize(colours[big], (w, h), interpolation=cv2.INTER_AREA)  # anti-aliased edges
    tones = np.array([(200, 210, 220), (60, 40, 30), (225, 180, 150), (40, 40, 50), (210, 160, 130),
                      (170, 70, 80)], np.uint8)
    photo = cv2.resize(tones[big], (w, h), interpolation=cv2.INTER_AREA)
    return photo, label_rgb


FASSEG_COLOURS = ((255, 0, 0), (127, 0, 0), (255, 255, 0), (0, 0, 255), (0, 255, 255), (0, 255, 0))


@pytest.fixture(scope="session")
def fasseg_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny FASSEG-layout folder: ``frontalT/train`` with 3 PNG faces (each its own person) and
    ``multiposeT/train`` with 2 Pointing'04-named persons at yaw 0 and +30 (JPEG photos, PNG labels)."""
    root = tmp_path_factory.mktemp("fasseg")
    for i in range(1, 4):
        photo, labels = _drawn_face(i)
        for kind, arr in (("RGB", photo), ("labels", labels)):
            (root / "frontalT" / "train" / kind).mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(root / "frontalT" / "train" / kind / f"{i}.png")
    for person in (1, 2):
        for yaw in ("0", "+30"):
            photo, labels = _drawn_face(10 * person + len(yaw))
            stem = f"personne{person:02d}146+0{'+' if yaw == '0' else ''}{yaw}"
            for kind, arr, ext in (("RGB", photo, "jpg"), ("labels", labels, "png")):
                d = root / "multiposeT" / "train" / kind / yaw
                d.mkdir(parents=True, exist_ok=True)
                Image.fromarray(arr).save(d / f"{stem}.{ext}", quality=95)
    return root
