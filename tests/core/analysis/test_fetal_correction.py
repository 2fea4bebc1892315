"""A corrected fetal head ellipse: its measures, the review row, and the HC18 folder it is written as."""
from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core.analysis.fetal_biometry import hadlock_ga_weeks, measure_head
from core.analysis.fetal_correction import (
    CorrectedCase,
    controls_of,
    corrected_reading,
    ellipse_from_controls,
    hc18_folder_zip,
    review_row,
)
from core.datasets import read_hc18
from core.geometry import Ellipse, ellipse_circumference, ellipse_mask


def test_controls_round_trip_and_swap_axes_when_bpd_is_the_longer() -> None:
    e = Ellipse(300.0, 200.0, 120.0, 90.0, math.radians(30))
    c = controls_of(e)
    assert c == pytest.approx({"cx": 300, "cy": 200, "ofd_px": 240, "bpd_px": 180, "angle_deg": 30})
    again = ellipse_from_controls(**c)
    assert (again.a, again.b, again.angle_rad) == pytest.approx((e.a, e.b, e.angle_rad))
    swapped = ellipse_from_controls(300, 200, 180, 240, 30)  # BPD typed longer: the axes turn 90 degrees
    assert (swapped.a, swapped.b) == (120, 90) and math.degrees(swapped.angle_rad) == pytest.approx(120)


def test_a_corrected_ellipse_is_measured_like_the_model_s() -> None:
    e = Ellipse(400.0, 270.0, 150.0, 110.0, 0.4)
    fixed = corrected_reading(e, 0.2, ga_weeks=24.0)
    assert fixed.hc_mm == pytest.approx(ellipse_circumference(30.0, 22.0))
    assert (fixed.bpd_mm, fixed.ofd_mm) == pytest.approx((44.0, 60.0))
    assert fixed.ga_hadlock_weeks == pytest.approx(hadlock_ga_weeks(fixed.hc_mm))
    assert fixed.centile is not None and 0 < fixed.centile.centile < 100
    # the mask of the ellipse, measured by the model's own path, gives the same HC within a pixel's worth
    assert measure_head(ellipse_mask((540, 800), e), 0.2).hc_mm == pytest.approx(fixed.hc_mm, abs=1.5)
    longer = corrected_reading(Ellipse(400.0, 270.0, 160.0, 110.0, 0.4), 0.2)
    gain = ellipse_circumference(32, 22) - ellipse_circumference(30, 22)
    assert longer.hc_mm - fixed.hc_mm == pytest.approx(gain)
    with pytest.raises(ValueError, match="pixel size"):
        corrected_reading(e, 0.0)


def test_the_review_row_compares_model_and_correction() -> None:
    e = Ellipse(100.0, 80.0, 50.0, 40.0, 0.0)
    mask = ellipse_mask((160, 200), e)
    fixed = corrected_reading(Ellipse(104.0, 80.0, 50.0, 40.0, 0.0), 0.25)
    row = review_row("upload", "U-Net", mask, 70.0, fixed)
    assert row["hc_difference_mm"] == pytest.approx(fixed.hc_mm - 70.0)
    assert 0.85 < row["dice_model_vs_corrected"] < 1.0
    assert row["case"] == "upload" and row["ellipse_cx"] == pytest.approx(104.0)


def test_corrected_cases_are_an_hc18_folder_the_reader_takes(tmp_path: Path) -> None:
    cases = []
    for k, e in enumerate((Ellipse(100.0, 80.0, 60.0, 45.0, 0.3), Ellipse(90.0, 85.0, 40.0, 30.0, 1.2))):
        fixed = corrected_reading(e, 0.3)
        frame = np.random.default_rng(k).integers(0, 255, (170, 210), dtype=np.uint8)
        review = review_row("upload", "U-Net", ellipse_mask(frame.shape, e), None, fixed)
        cases.append(CorrectedCase(f"{900001 + k}_HC", frame, fixed, review))
    with zipfile.ZipFile(io.BytesIO(hc18_folder_zip(cases))) as zf:
        zf.extractall(tmp_path)
        assert "review_log.csv" in zf.namelist()
    read = list(read_hc18(tmp_path))
    assert [c.name for c in read] == ["900001_HC.png", "900002_HC.png"]
    for case, kept in zip(read, cases):
        assert np.array_equal(case.image, kept.frame)
        assert case.pixel_size_mm == pytest.approx(0.3)
        assert case.meta["hc_mm"] == pytest.approx(kept.reading.hc_mm, abs=0.01)
        region = ellipse_mask(kept.frame.shape, kept.reading.ellipse)
        assert (case.mask & region).sum() / (case.mask | region).sum() > 0.95  # the annotation, filled
