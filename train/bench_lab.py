"""Model-lab throughput on real-size frames, the way the lab page runs it.

    python -m train.bench --task lab [--frames 24] [--batch-size 1 4]

For each task's bundled dataset folder -- real 800x540 HC18 frames (fetal head), 580x420 Kaggle-layout
nerve frames, a real LGG patient's 256x256x3 slices (brain tumour) -- the folder is read as the lab
reads it (:func:`core.lab.detect_layout`, :func:`core.lab.read_cases`: files decoded, masks
parsed) and evaluated by :func:`core.evaluation.engine.collect` with the page's settings (the task's
own columns on: HC / BPD / OFD and the ellipse for fetal heads), every shipped model of the task at
each batch size (1 is the page's default). Frames are reused cyclically up to ``--frames``.

Each row gives the end-to-end frames/s and where a frame's time goes: decoding, the network
(``predict_batch``: letterbox, the card's test-time views, post-processing) and scoring (Dice, HD95,
the task's columns). smp's ``Unet("resnet34")`` (random init), fed exactly like the task's default
model, runs in the same process as the baseline; ``net_x_faster`` is its network time over the
model's (scoring is left out of the ratio: a random-init network's masks are noise, slower to
score). Target (issue 24): the default fetal head model reads >= 10 real frames/s at the page's
default batch size.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.datasets import Case
from core.evaluation.engine import collect
from core.lab import detect_layout, read_cases
from core.predict import Segmenter
from core.roots import SAMPLES_ROOT
from core.tasks import get_task

LAB_TARGET_FPS = 10.0
TARGET_TASK = "fetal_head"
PAGE_BATCH = 1  # the lab page's default batch size
LAB_FOLDERS = {"fetal_head": "fetal_head", "nerve": "nerve", "brain_tumor": "brain_mri/kaggle_3m"}
BASELINE = "smp Unet(resnet34) baseline"


class TimedPredictor:
    """A segmenter as the engine sees it, adding up the seconds spent in ``predict_batch``."""

    def __init__(self, seg: Segmenter) -> None:
        self.seg, self.seconds = seg, 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.seg, name)

    def predict_batch(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.seg.predict_batch(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0


def read_frames(folder: Path, n: int) -> tuple[list[Case], float, str]:
    """``n`` cases of ``folder`` read as the lab reads them (the folder re-read cyclically), the
    seconds that took, and the frame size in words."""
    guess = detect_layout(folder)
    cases: list[Case] = []
    t0 = time.perf_counter()
    while len(cases) < n:
        for case in read_cases(guess):
            cases.append(replace(case, name=f"{case.name}#{len(cases)}"))
            if len(cases) == n:
                break
        if not cases:
            raise ValueError(f"{folder}: no cases to read")
    seconds = time.perf_counter() - t0
    shape = cases[0].image.shape
    size = f"{shape[1]}x{shape[0]}" + (f"x{shape[2]}" if len(shape) == 3 else "")
    return cases, seconds, size


def lab_models(task_name: str) -> dict[str, Segmenter]:
    """The task's shipped models, default first, and the baseline fed like the default one."""
    from train.bench import baseline_segmenter

    task = get_task(task_name)
    found = {m: Segmenter.from_folder(task.weights_dir(m)) for m in task.models
             if task.weights_dir(m).joinpath("model.json").is_file()}
    if found:
        card = next(iter(found.values())).card
        found[BASELINE] = baseline_segmenter(replace(card, arch="smp-Unet-resnet34", arch_config={}))
    return found


def bench_task_lab(task_name: str, folder: Path, n: int, batch_sizes: Sequence[int]) -> list[dict[str, Any]]:
    """One row per (model, batch size): frames/s end to end and the time split per frame."""
    cases, decode_s, size = read_frames(folder, n)
    models = lab_models(task_name)
    rows = []
    for batch in batch_sizes:
        for name, seg in models.items():
            timed = TimedPredictor(seg)
            collect({name: timed}, cases[:batch], task=task_name, batch_size=batch)  # warm-up
            timed.seconds = 0.0
            t0 = time.perf_counter()
            collect({name: timed}, cases, task=task_name, batch_size=batch)
            engine_s = time.perf_counter() - t0
            total = decode_s + engine_s
            rows.append({"task": "lab", "lab_task": task_name, "model": name,
                         "input": f"{size} {folder.name}",
                         "batch_size": batch, "n": len(cases), "fps": len(cases) / total,
                         "decode_ms": 1000 * decode_s / len(cases),
                         "network_ms": 1000 * timed.seconds / len(cases),
                         "scoring_ms": 1000 * (engine_s - timed.seconds) / len(cases),
                         "params_M": sum(p.numel() for p in seg.model.parameters()) / 1e6,
                         "default": name == get_task(task_name).default_model})
    for batch in batch_sizes:
        base = next((r for r in rows if r["model"] == BASELINE and r["batch_size"] == batch), None)
        for r in rows:
            if r["batch_size"] == batch and base is not None:
                # network time only: a random-init baseline's masks are noise, and scoring noise
                # (ellipse fits, HD95) is slower than scoring a head, which is no merit of the model
                r["net_x_faster"] = base["network_ms"] / r["network_ms"]
            r["meets_target"] = (r["fps"] >= LAB_TARGET_FPS if task_name == TARGET_TASK and r["default"]
                                 and r["batch_size"] == PAGE_BATCH else None)
    return rows


def bench_lab(n: int, batch_sizes: Sequence[int] = (PAGE_BATCH, 4),
              folders: dict[str, Path] | None = None) -> list[dict[str, Any]]:
    """:func:`bench_task_lab` for every task with a bundled folder (or the given ``folders``)."""
    folders = folders or {t: SAMPLES_ROOT / rel for t, rel in LAB_FOLDERS.items()}
    rows: list[dict[str, Any]] = []
    for task_name, folder in folders.items():
        if folder.is_dir():
            rows += bench_task_lab(task_name, folder, n, batch_sizes)
    return rows


def print_lab_table(rows: list[dict[str, Any]]) -> None:
    """The rows as a plain-text table (frames/s: higher is better; ms per frame)."""
    print("\nModel lab on real-size frames (read from the folder, evaluated as the page does; "
          f"target: default fetal head model >= {LAB_TARGET_FPS:g} frames/s at batch {PAGE_BATCH}; "
          "net x: the baseline's network time / the model's)")
    print(f"{'task':<12}{'model':<28}{'input':<24}{'batch':>6}{'frames/s':>10}{'net x':>8}"
          f"{'decode':>8}{'network':>9}{'scoring':>9}  target")
    for r in rows:
        target = "-" if r["meets_target"] is None else ("yes" if r["meets_target"] else "no")
        print(f"{r['lab_task']:<12}{r['model']:<28}{r['input']:<24}{r['batch_size']:>6}{r['fps']:>10.1f}"
              f"{r.get('net_x_faster', float('nan')):>8.2f}{r['decode_ms']:>6.0f}ms{r['network_ms']:>7.0f}ms"
              f"{r['scoring_ms']:>7.0f}ms  {target}")
