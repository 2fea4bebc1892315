"""dashboard.bench_pages: a page's first visit and warm rerun in a fresh process, against a baseline."""
from __future__ import annotations

import pytest

from dashboard import bench_pages


def test_the_home_page_is_timed_against_the_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    rows = bench_pages.run_all(["home"], threads=1)
    assert [r["page"] for r in rows] == ["baseline", "home"]
    base, home = rows
    assert not home["errors"] and home["first_visit_s"] > 0 and home["warm_rerun_s"] > 0
    assert home["first_visit_x_baseline"] == pytest.approx(home["first_visit_s"] / base["first_visit_s"])
    assert home["rss_mb"] > base["rss_mb"] > 50  # the page loads more than Streamlit alone
    bench_pages.print_rows(rows, 1)
    out = capsys.readouterr().out
    assert "first visit <= 3 s" in out and "home" in out


def test_every_page_has_a_file_and_a_control_it_can_change() -> None:
    for page, (file, control) in bench_pages.PAGES.items():
        assert page == bench_pages.BASELINE or (bench_pages.PAGES_DIR / file).is_file()
        assert control is None or control[0] in ("slider", "toggle")
