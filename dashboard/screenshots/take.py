"""Screenshot every dashboard page for the README (needs `pip install playwright` and Chromium).

    python -m streamlit run streamlit_app.py --server.port 8599 &
    python dashboard/screenshots/take.py --url http://localhost:8599 --chromium /usr/bin/chromium
"""
from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

HERE = Path(__file__).resolve().parent
PAGES = {"home": "", "fetal_biometry": "fetal_biometry", "nerve": "nerve", "brain_mri": "brain_mri",
         "face": "face", "face_screening": "face_screening", "model_lab": "model_lab"}
# Streamlit scrolls inside its own container: the viewport must be as tall as the page.
HEIGHTS = {"home": 2600, "fetal_biometry": 4300, "nerve": 2600, "brain_mri": 2600, "face": 2600,
           "face_screening": 3000, "model_lab": 3900}


def set_up_fetal(page: Page) -> None:
    """A late real frame, both models side by side, its gestational age, the views' disagreement
    and Grad-CAM on."""
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
    page.get_by_role("option", name=FETAL_SAMPLE, exact=True).click()
    wait_for_app(page)
    page.get_by_text("All side by side").click()
    wait_for_app(page)
    ga = page.locator("[data-testid='stSidebar'] input[type='number']").nth(1)
    ga.fill("24")
    ga.press("Enter")
    wait_for_app(page)
    page.get_by_text("Disagreement map of the test-time views").click()
    wait_for_app(page)
    page.get_by_text("Grad-CAM of the segmentation").click()
    wait_for_app(page)


def set_up_nerve(page: Page) -> None:
    """A training frame with a nerve, Grad-CAM on."""
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
    page.get_by_role("option", name=NERVE_SAMPLE, exact=True).click()
    wait_for_app(page)
    page.get_by_text("Grad-CAM of the segmentation").click()
    wait_for_app(page)


def set_up_face(page: Page) -> None:
    """The second bundled portrait (scikit-image's astronaut: not a FASSEG face, the parser never saw it)."""
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
    page.get_by_role("option", name=FACE_SAMPLE, exact=True).click()
    wait_for_app(page)


def set_up_model_lab(page: Page) -> None:
    """Both fetal models on the bundled fetal samples."""
    button = page.get_by_role("button", name="Evaluate")
    if button.count():  # absent when the result cache already holds this evaluation
        button.click()
        wait_for_app(page)
    page.wait_for_timeout(3000)
    wait_for_app(page)


def set_up_brain(page: Page) -> None:
    """The bundled real LGG patient (3-sequence model): wait until every slice is segmented and the
    table is drawn."""
    page.get_by_text("Per slice (axial)").wait_for(timeout=180_000)
    wait_for_app(page)


NERVE_SAMPLE = "1_2.tif"
FETAL_SAMPLE = "648_HC.png"  # a real HC18 frame of a held-out exam, HC 223.5 mm
FACE_SAMPLE = "skimage_astronaut.jpg"
SETUP = {"fetal_biometry": set_up_fetal, "nerve": set_up_nerve, "brain_mri": set_up_brain,
         "face": set_up_face, "model_lab": set_up_model_lab}


def wait_for_app(page: Page) -> None:
    """Wait until Streamlit has stopped running the script and images have loaded."""
    page.wait_for_selector("[data-testid='stApp'] h1", timeout=120_000)
    page.wait_for_timeout(1500)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(2500)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://localhost:8599")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--out", type=Path, default=HERE)
    p.add_argument("--only", nargs="*", help="page names to shoot (default all)")
    args = p.parse_args(argv)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        for name, path in PAGES.items():
            if args.only and name not in args.only:
                continue
            page.set_viewport_size({"width": 1500, "height": HEIGHTS[name]})
            page.goto(f"{args.url}/{path}")
            wait_for_app(page)
            if name in SETUP:
                SETUP[name](page)
            page.screenshot(path=str(args.out / f"{name}.png"), full_page=True)
            print("wrote", args.out / f"{name}.png")
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
