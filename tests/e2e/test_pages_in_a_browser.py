"""Every page in a real browser: it renders its bundled sample with its key number visible, a bad
upload shows its message, and the browser console logs no error."""
from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_MS = 180_000
# page path -> text that shows its key result on the bundled sample
PAGES = {
    "": "Fetal head biometry · unet",
    "fetal_biometry": "Head circumference",
    "nerve": "Pairwise Dice between models",
    "brain_mri": "Predicted tumour volume",
    "face": "478 landmarks",
    "face_screening": "Class probabilities",
    "model_lab": "Not evaluated yet with these settings",
}
# page path -> (the upload radio's label, a bad file, the message it gets)
BAD_UPLOADS = {
    "fetal_biometry": ("Upload", ("scan.png", b"not a png at all"), "Cannot read scan.png"),
    "nerve": ("Upload", ("frame.png", b"\x89PNG\r\n\x1a\n broken"), "Cannot read frame.png"),
    "brain_mri": ("Upload", ("scan.nii.gz", b"\x1f\x8b" + b"broken" * 20), "Cannot read"),
    "face": ("Upload", ("face.jpg", b"\xff\xd8\xff broken jpeg"), "Cannot read face.jpg"),
}


def _benign(text: str) -> bool:
    """A console error of the superseded-media race or the offline icon font, not of the page."""
    return text.startswith("Failed to load resource") or (
        text.startswith("Client Error: Image source error") and "/media/" in text)


def _open(browser, url: str):
    """A page and the errors it raises: script exceptions, console errors, server errors (5xx).

    "Failed to load resource" console lines are left out: offline, the icon font's host cannot be
    reached, and Streamlit drops a rerun's superseded media while the browser still asks for it
    (its frontend then also logs "Client Error: Image source error - .../media/...").
    """
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not _benign(m.text) else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    origin = "/".join(url.split("/")[:3])  # http://127.0.0.1:PORT
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 500 and r.url.startswith(origin) else None)
    page.goto(url)
    page.wait_for_selector("[data-testid='stApp'] h1", timeout=TIMEOUT_MS)
    return page, errors


def _settle(page) -> None:
    page.wait_for_timeout(1000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                           timeout=TIMEOUT_MS)


@pytest.mark.parametrize("path", list(PAGES), ids=lambda p: p or "home")
def test_page_renders_its_sample_with_the_key_number(browser, app_url: str, path: str) -> None:
    page, errors = _open(browser, f"{app_url}/{path}")
    try:
        page.get_by_text(PAGES[path]).first.wait_for(timeout=TIMEOUT_MS)
        _settle(page)
        assert not page.locator("[data-testid='stException']").count()
        body = page.inner_text("body")
        assert "not a diagnosis" in body or "not a medical device" in body  # the research-use line
        assert not errors, errors
    finally:
        page.close()


@pytest.mark.parametrize("path", list(BAD_UPLOADS))
def test_a_bad_upload_shows_its_message(browser, app_url: str, path: str, tmp_path: Path) -> None:
    label, (name, data), message = BAD_UPLOADS[path]
    bad = tmp_path / name
    bad.write_bytes(data)
    page, errors = _open(browser, f"{app_url}/{path}")
    try:
        _settle(page)
        page.locator("[data-testid='stSidebar']").get_by_text(label, exact=True).click()
        _settle(page)
        page.locator("input[type='file']").first.set_input_files(str(bad))
        page.get_by_text(message).first.wait_for(timeout=TIMEOUT_MS)
        assert not page.locator("[data-testid='stException']").count()
        assert not errors, errors
    finally:
        page.close()


def _metric_text(page, label: str) -> str:
    return page.locator("[data-testid='stMetric']").filter(has_text=label).first.inner_text()


def test_a_brush_stroke_on_the_nerve_page_changes_the_corrected_area(browser, app_url: str) -> None:
    page, errors = _open(browser, f"{app_url}/nerve")
    try:
        page.get_by_text("Correct the mask", exact=True).first.wait_for(timeout=TIMEOUT_MS)
        _settle(page)
        page.get_by_text("Correct the mask", exact=True).first.scroll_into_view_if_needed()
        assert "+0 px vs the model" in _metric_text(page, "Area, corrected")
        canvas = page.locator("canvas.upper-canvas").first  # the drawing layer of the canvas component
        canvas.wait_for(state="visible", timeout=TIMEOUT_MS)
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        x, y = box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5
        page.mouse.move(x, y)
        page.mouse.down()
        for k in range(20):  # a green (add) stroke away from the predicted nerve
            page.mouse.move(x + 5 * k, y + 2 * k, steps=2)
        page.mouse.up()
        page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
                               ".some(m => m.innerText.includes('Area, corrected')"
                               " && !m.innerText.includes('+0 px'))", timeout=TIMEOUT_MS)
        delta = _metric_text(page, "Area, corrected").split("\n")[-1]
        assert delta.startswith("+") and int(delta.split()[0]) > 100
        assert not errors, errors
    finally:
        page.close()
