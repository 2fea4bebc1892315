"""Page timings: every dashboard page's first visit and warm rerun on its bundled sample, and the
memory a process holds after it, through Streamlit's AppTest.

    python -m dashboard.bench_pages            # every page, a fresh process each
    python -m dashboard.bench_pages --json runs/bench_pages.json
    python -m dashboard.bench_pages --tour [--lab-data data_samples/fetal_head]

A page's **first visit** is its first run in a fresh process: imports, model loading, the analysis
and the drawing, as the first visitor of a freshly started server waits for them. The **warm rerun**
changes one control (the page's threshold, an overlay, top-N) and runs again, as a user's click does.
The model lab's result cache is an empty folder of the run's own, so the lab page shows its
Evaluate button, not results an earlier run left in ``runs/lab_cache/``.
Both are ratios against a baseline measured in the same run: a page that only imports Streamlit and
writes a title, in a fresh process the same way. Targets (issue 24): first visit <= 3 s, warm rerun
<= 1 s on 2 cores; the resident memory after each page is printed too (a small cloud instance gives
about 1 GB). Timings on a busy machine are noisy: read the ratios and the order of the pages.

``--served`` times each page as the first visitor of a server started by ``make run`` meets it:
``dashboard.serve`` imports PyTorch, the core package, MediaPipe and nibabel before Streamlit starts
listening, so the page's first visit is its models, analysis and drawing. ``--after-home``: the
visitor lands on Home first, whose router starts the same imports in the background.

``--tour`` measures memory as one server process holds it: every page visited in turn in ONE fresh
process, each through the router as the app is served (a session at a time, as visitors come one
after another), the resident memory after each and after the whole tour, then a model-lab run (the
lab page's Evaluate button on ``--lab-data``, a fresh result cache) and the peak resident memory of
the process. Targets: <= 1 GB after the
tour, <= 1.5 GB at the peak with the lab run. The result caches' bytes are printed too.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

from dashboard import warmup  # imports nothing heavy until started

# core.evaluation.cache.CACHE_ENV, spelled out: importing the core package here would import torch
# before a page's first visit is timed (tests/dashboard/test_bench_pages.py checks both).
CACHE_ENV = "MEDIMG_LAB_CACHE"

ROOT = Path(__file__).resolve().parents[1]  # the project
PAGES_DIR = ROOT / "dashboard" / "pages"
BASELINE = "baseline"
BASELINE_SCRIPT = 'import streamlit as st\nst.title("Baseline")\nst.slider("x", 0, 10, 5, key="x")\n'
# page -> (file, the control a warm rerun changes: (kind, key, value))
PAGES: dict[str, tuple[str, tuple[str, str, Any] | None]] = {
    BASELINE: ("", ("slider", "x", 6)),
    "home": ("home.py", None),
    "fetal_biometry": ("fetal_biometry.py", ("slider", "fetal_thr", 0.45)),
    "nerve": ("nerve.py", ("slider", "nerve_thr", 0.45)),
    "brain_mri": ("brain_mri.py", ("slider", "brain_thr", 0.45)),
    "face": ("face.py", ("toggle", "face_points", False)),
    "face_screening": ("face_screening.py", ("slider", "screen_topn", 2)),
    "model_lab": ("model_lab.py", None),
}
FIRST_VISIT_S, WARM_RERUN_S = 3.0, 1.0
TOUR_MB, LAB_PEAK_MB = 1024.0, 1536.0
TIMEOUT_S = 600
# How a page's first visit starts: opened directly on a bare ``streamlit run`` server, after Home (the
# router's background imports done), or on a server started by ``make run`` (imports done at start).
STARTS = {"direct": "each page opened directly on a bare `streamlit run` server",
          "after_home": "each page visited after Home (the router's background imports done)",
          "served": "each page on a server started by `make run` (dashboard.serve: imports done at start)"}


def rss_mb() -> float:
    """This process's resident memory now, MB (Linux ``/proc``; the peak elsewhere)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def visit_home() -> float:
    """A visitor landing on the app (the router shows Home and starts the background imports,
    :mod:`dashboard.warmup`) and staying until those are done: the seconds that took in all."""
    t0 = time.perf_counter()
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT_S).run()
    if at.exception:
        raise RuntimeError(f"Home failed: {at.exception[0].value}")
    warmup.wait(TIMEOUT_S)
    return time.perf_counter() - t0


def time_page(page: str, start: str = "direct") -> dict[str, Any]:
    """First visit and warm rerun of one page in THIS process (run it in a fresh one: the page's own
    imports, torch among them, count in its first visit as they do on a fresh server); ``start``
    (:data:`STARTS`): ``after_home``, the page is visited after Home as a visitor who lands on the
    app does; ``served``, after the imports ``make run``'s launcher does before serving."""
    file, control = PAGES[page]
    home_s = visit_home() if start == "after_home" and page != BASELINE else None
    imports_s = warmup.preload(TIMEOUT_S) if start == "served" and page != BASELINE else None
    t0 = time.perf_counter()
    at = (AppTest.from_string(BASELINE_SCRIPT, default_timeout=TIMEOUT_S) if page == BASELINE
          else AppTest.from_file(str(PAGES_DIR / file), default_timeout=TIMEOUT_S))
    at.run()
    first = time.perf_counter() - t0
    if control is not None:
        kind, key, value = control
        getattr(at, kind)(key=key).set_value(value)
    t1 = time.perf_counter()
    at.run()
    warm = time.perf_counter() - t1
    return {"page": page, "first_visit_s": first, "warm_rerun_s": warm, "rss_mb": rss_mb(), "home_s": home_s,
            "imports_s": imports_s,
            "control": None if control is None else f"{control[1]} -> {control[2]}",
            "errors": [e.value for e in at.exception]}


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, MB (``ru_maxrss`` is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def empty_lab_cache() -> Iterator[None]:
    """The model lab's result cache moved to an empty folder of its own for the block (then put
    back): the lab page shows what nothing evaluated yet looks like, whatever ``runs/lab_cache/``
    holds, and a lab run really evaluates."""
    before = os.environ.get(CACHE_ENV)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[CACHE_ENV] = tmp
        try:
            yield
        finally:
            if before is None:
                os.environ.pop(CACHE_ENV, None)
            else:
                os.environ[CACHE_ENV] = before


def router_visit(page: str) -> AppTest:
    """A new visitor's session on the app as served: the router (``streamlit_app.py``, with what it
    does around every page run) on ``page``."""
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT_S)
    if page != "home":
        at.switch_page(str((PAGES_DIR / PAGES[page][0]).relative_to(ROOT)))
    return at.run()


def tour(pages: Sequence[str], lab_data: str) -> dict[str, Any]:
    """Every page in turn, each a new visitor's session through the router (its control changed once,
    as in :func:`time_page`), then a model-lab run, in THIS process: resident memory along the way."""
    from dashboard import byte_cache

    steps = []
    with empty_lab_cache():
        for page in pages:
            at = router_visit(page)
            control = PAGES[page][1]
            if control is not None:
                kind, key, value = control
                getattr(at, kind)(key=key).set_value(value)
                at.run()
            errors = [e.value for e in at.exception]
            del at
            gc.collect()  # the finished session's objects, as a server frees them when a visitor leaves
            steps.append({"step": page, "rss_mb": rss_mb(), "errors": errors})
        after_tour = rss_mb()
        at = router_visit("model_lab")
        at.text_input(key="lab_path").set_value(lab_data)
        at.run()
        t0 = time.perf_counter()
        at.button(key="lab_run").click()
        at.run()
        lab_s = time.perf_counter() - t0
        errors = [e.value for e in at.exception]
        del at
        gc.collect()
    steps.append({"step": f"model lab run on {lab_data}", "rss_mb": rss_mb(), "errors": errors,
                  "seconds": lab_s})
    caches = byte_cache.stats()
    return {"steps": steps, "rss_after_tour_mb": after_tour, "peak_rss_mb": peak_rss_mb(),
            "cache_mb": sum(c.bytes for c in caches) / 2**20,
            "cache_budget_mb": byte_cache.total_budget_mb()}


def print_tour(t: dict[str, Any]) -> None:
    """The tour's memory figures against their targets."""
    print("\nServer memory, one process: a tour of every page, then a model-lab run")
    for s in t["steps"]:
        print(f"  after {s['step']:40s} {s['rss_mb']:7.0f} MB" + (f"  {s['errors']}" if s["errors"] else ""))
    print(f"resident after the tour: {t['rss_after_tour_mb']:.0f} MB (target <= {TOUR_MB:.0f}: "
          f"{'yes' if t['rss_after_tour_mb'] <= TOUR_MB else 'no'})")
    print(f"peak with the lab run:   {t['peak_rss_mb']:.0f} MB (target <= {LAB_PEAK_MB:.0f}: "
          f"{'yes' if t['peak_rss_mb'] <= LAB_PEAK_MB else 'no'})")
    print(f"result caches hold {t['cache_mb']:.1f} MB of their {t['cache_budget_mb']:.0f} MB budget")


def worker(args: Sequence[str], threads: int, timeout: float) -> dict[str, Any]:
    """``python -m dashboard.bench_pages ARGS`` in a fresh process with ``threads`` torch threads
    (set before torch loads): the JSON line it prints, or ``{"errors": [...]}``."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-m", "dashboard.bench_pages", *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode or not lines:
        return {"errors": [out.stderr.strip().splitlines()[-1:] or "no output"]}
    return json.loads(lines[-1])


def run_all(pages: Sequence[str], threads: int, start: str = "direct") -> list[dict[str, Any]]:
    """Each page (and the baseline first) in a fresh Python process, started as ``start`` says."""
    with empty_lab_cache():  # the workers inherit it
        rows = [{"page": page, **worker(["--worker", page, "--start", start], threads, 2 * TIMEOUT_S)}
                for page in [BASELINE, *[p for p in pages if p != BASELINE]]]
    base = rows[0]
    for row in rows[1:]:
        for k in ("first_visit_s", "warm_rerun_s"):
            if k in row and base.get(k):
                row[k.replace("_s", "_x_baseline")] = row[k] / base[k]
    return rows


def print_rows(rows: Sequence[dict[str, Any]], threads: int, start: str = "direct") -> None:
    """The table, with each figure against its target."""
    print(f"\nPage timings through AppTest, a fresh process per page, {STARTS[start]}, {threads} torch "
          f"threads (targets: first visit <= {FIRST_VISIT_S:g} s, warm rerun <= {WARM_RERUN_S:g} s)")
    print(f"{'page':16s} {'first visit':>12s} {'x base':>7s} {'warm rerun':>11s} {'x base':>7s} "
          f"{'RSS MB':>7s}  meets targets")
    for r in rows:
        if "first_visit_s" not in r:
            print(f"{r['page']:16s} failed: {r.get('errors')}")
            continue
        ok = r["first_visit_s"] <= FIRST_VISIT_S and r["warm_rerun_s"] <= WARM_RERUN_S
        print(f"{r['page']:16s} {r['first_visit_s']:11.2f}s {r.get('first_visit_x_baseline', 1.0):7.1f} "
              f"{r['warm_rerun_s']:10.2f}s {r.get('warm_rerun_x_baseline', 1.0):7.1f} {r['rss_mb']:7.0f}  "
              + ("-" if r["page"] == BASELINE else "yes" if ok else "no")
              + (f"  (Home first: {r['home_s']:.2f} s, background imports)" if r.get("home_s") else "")
              + (f"  (imports at server start: {r['imports_s']:.2f} s)" if r.get("imports_s") else "")
              + (f"  {r['errors']}" if r["errors"] else ""))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    p = argparse.ArgumentParser(prog="python -m dashboard.bench_pages", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pages", nargs="+", choices=[k for k in PAGES if k != BASELINE],
                   default=[k for k in PAGES if k != BASELINE])
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--json", type=Path, help="also write the rows as JSON")
    p.add_argument("--tour", action="store_true",
                   help="memory of one process visiting every page, then a model-lab run")
    p.add_argument("--lab-data", default="data_samples/fetal_head",
                   help="the folder the tour's model-lab run evaluates (default: the bundled HC18 frames)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--after-home", dest="start", action="store_const", const="after_home", default="direct",
                     help="visit Home first in each process, as a visitor landing on the app does, and time "
                          "the page after the router's background imports (dashboard/warmup.py) are done")
    how.add_argument("--served", dest="start", action="store_const", const="served",
                     help="time each page as on a server started by make run (dashboard/serve.py: the heavy "
                          "imports done before it serves)")
    how.add_argument("--start", dest="start", choices=list(STARTS), help=argparse.SUPPRESS)
    p.add_argument("--worker", choices=list(PAGES), help=argparse.SUPPRESS)
    p.add_argument("--tour-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(time_page(args.worker, args.start)))
        return 0
    if args.tour_worker:
        print(json.dumps(tour(args.pages, args.lab_data)))
        return 0
    if args.tour:
        result = worker(["--tour-worker", "--pages", *args.pages, "--lab-data", args.lab_data], args.threads,
                        4 * TIMEOUT_S)
        if "steps" not in result:
            print(result["errors"])
            return 1
        print_tour(result)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"tour": result, "threads": args.threads}, indent=2) + "\n")
        return 0
    rows = run_all(args.pages, args.threads, args.start)
    print_rows(rows, args.threads, args.start)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"rows": rows, "threads": args.threads, "start": args.start}
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
