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


def test_a_page_after_home_and_the_background_imports(capsys: pytest.CaptureFixture[str]) -> None:
    rows = bench_pages.run_all(["model_lab"], threads=1, start="after_home")
    base, lab = rows
    assert base["home_s"] is None and not lab["errors"]
    assert lab["home_s"] > 0 and lab["first_visit_s"] > 0 and lab["imports_s"] is None
    bench_pages.print_rows(rows, 1, start="after_home")
    assert "Home first" in capsys.readouterr().out


def test_a_page_on_a_server_that_imported_at_start(capsys: pytest.CaptureFixture[str]) -> None:
    """--served: the imports dashboard.serve does before serving are done before the page is timed."""
    rows = bench_pages.run_all(["model_lab"], threads=1, start="served")
    base, lab = rows
    assert base["imports_s"] is None and not lab["errors"] and lab["home_s"] is None
    assert lab["imports_s"] > 0 and lab["first_visit_s"] > 0
    bench_pages.print_rows(rows, 1, start="served")
    out = capsys.readouterr().out
    assert "make run" in out and "imports at server start" in out


def test_the_tour_reports_memory_against_its_targets(capsys: pytest.CaptureFixture[str]) -> None:
    result = bench_pages.tour(["home"], "data_samples/fetal_head")
    steps = [s["step"] for s in result["steps"]]
    assert steps == ["home", "model lab run on data_samples/fetal_head"]
    assert all(not s["errors"] for s in result["steps"]) and result["steps"][-1]["seconds"] > 0
    assert result["peak_rss_mb"] >= result["rss_after_tour_mb"] > 50
    assert 0 < result["cache_mb"] <= result["cache_budget_mb"]  # the lab run filled a byte-bounded cache
    bench_pages.print_tour(result)
    out = capsys.readouterr().out
    assert "target <= 1024" in out and "target <= 1536" in out


def test_the_warmup_imports_once_in_the_background() -> None:
    import subprocess
    import sys

    code = ("import sys, threading\nfrom dashboard import warmup\n"
            "assert warmup.wait(0) is None\n"
            "warmup.start(); warmup.start()\n"
            "assert sum(t.name == 'medimg-warmup' for t in threading.enumerate()) <= 1\n"
            "s = warmup.wait(300)\n"
            "print(s > 0, all(m in sys.modules for m in warmup.MODULES), 'nibabel' in warmup.MODULES)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=bench_pages.ROOT, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-1500:]
    assert out.stdout.split() == ["True", "True", "True"]


def test_importing_the_bench_leaves_torch_and_the_core_package_to_the_timed_page() -> None:
    """A page's first visit includes its imports: the bench itself must not import torch or core
    (it once did, through core.evaluation.cache, and every first visit read 1-2 s short)."""
    import subprocess
    import sys

    code = ("import sys, dashboard.bench_pages\n"
            "print(sorted(m for m in ('torch', 'core', 'nibabel', 'pydicom') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=bench_pages.ROOT)
    assert out.stdout.strip() == "[]"


def test_the_lab_cache_variable_is_the_one_the_lab_reads() -> None:
    from core.evaluation.cache import CACHE_ENV

    assert bench_pages.CACHE_ENV == CACHE_ENV
