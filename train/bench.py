"""Latency and memory benchmark of the case pipelines, as ratios against a baseline.

    python -m train.bench [--frames 30] [--threads 2] [--json runs/bench.json] [--record]

Fetal head: the whole case pipeline (decode PNG -> segment -> ellipse -> HC/BPD/OFD) per
800x540 frame, for each shipped model and for segmentation-models-pytorch's default
``Unet("resnet34")`` (random init) at the same input size, measured in the same run. Absolute
times depend on the machine; the ratio to the baseline is what to compare across machines.
``--record`` stores each shipped model's figures in its card under ``metrics.bench``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import segmentation_models_pytorch as smp
import torch

from core import fetal_head
from core.imaging import load_image, to_gray_u8
from core.segmentation import Segmenter
from core.tasks import get_task
from core.weights import ModelCard, read_card, write_card


def interleaved(fns: dict[str, Callable[[int], object]], n: int, warmup: int = 3
                ) -> dict[str, dict[str, float]]:
    """p50 / p95 / mean wall time in ms of each ``fn(i)``, calls interleaved frame by frame.

    Interleaving gives every model the same machine conditions (a shared VM drifts by tens of
    percent over a minute), so the ratios between them are stable even when absolute times move.
    """
    for fn in fns.values():
        for i in range(warmup):
            fn(i)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(n):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(i)
            times[name].append((time.perf_counter() - t0) * 1000)
    return {name: {"p50_ms": float(np.percentile(t, 50)), "p95_ms": float(np.percentile(t, 95)),
                   "mean_ms": float(np.mean(t))} for name, t in times.items()}


def fetal_frames(n: int) -> list[tuple[bytes, float]]:
    """PNG bytes and pixel sizes of ``n`` fresh phantom frames (decode is part of the pipeline)."""
    from train.phantoms.fetal_head import generate

    return [(cv2.imencode(".png", ph.image)[1].tobytes(), ph.pixel_size_mm) for ph in generate(n, 777)]


def baseline_segmenter(card: ModelCard) -> Segmenter:
    """smp's default Unet("resnet34"), random init, fed exactly like the shipped model."""
    model = smp.Unet("resnet34", encoder_weights=None, in_channels=1, classes=1)
    return Segmenter(model.eval(), card)


def bench_fetal_head(n: int) -> list[dict[str, object]]:
    task = get_task("fetal_head")
    frames = fetal_frames(n)
    segmenters = {m: Segmenter.from_folder(task.weights_dir(m)) for m in task.models
                  if task.weights_dir(m).joinpath("model.json").is_file()}
    # The baseline is fed exactly as the task's models are: same input size and post-processing.
    baseline_card = ModelCard(task=task.name, arch="smp-Unet-resnet34", arch_config={},
                              labels=list(task.labels), input=task.input, postprocess=task.postprocess)
    segmenters["smp Unet(resnet34) baseline"] = baseline_segmenter(baseline_card)

    def pipeline(seg: Segmenter) -> Callable[[int], object]:
        def run(i: int) -> object:
            data, px = frames[i % len(frames)]
            return fetal_head.analyse(seg, to_gray_u8(load_image(data)), px)
        return run

    timings = interleaved({name: pipeline(seg) for name, seg in segmenters.items()}, n)
    rows = [{"task": "fetal_head", "model": name, "input": "800x540 PNG",
             "params_M": sum(p.numel() for p in seg.model.parameters()) / 1e6, **timings[name]}
            for name, seg in segmenters.items()]
    base = rows[-1]["p50_ms"]
    for r in rows:
        r["ratio_to_baseline_p50"] = r["p50_ms"] / base
    return rows


def record_in_cards(rows: list[dict[str, object]], peak_mb: float, threads: int) -> None:
    """Write each shipped model's latency row into its card (weights and sha256 untouched)."""
    task = get_task("fetal_head")
    base = rows[-1]
    for r in rows[:-1]:
        folder = task.weights_dir(str(r["model"]))
        card = read_card(folder)
        bench = {"pipeline": "decode PNG -> segment -> ellipse -> HC/BPD/OFD, 800x540 frame",
                 "p50_ms": round(float(r["p50_ms"]), 1), "p95_ms": round(float(r["p95_ms"]), 1),
                 "baseline": "smp Unet('resnet34'), same input size, same run",
                 "baseline_p50_ms": round(float(base["p50_ms"]), 1),
                 "ratio_to_baseline_p50": round(float(r["ratio_to_baseline_p50"]), 3),
                 "peak_rss_mb": round(peak_mb),
                 "machine": f"{os.cpu_count()} CPU cores, {threads} torch threads",
                 "command": "python -m train.bench --record"}
        write_card(folder, replace(card, metrics={**card.metrics, "bench": bench}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=30, help="timed frames per model (default 30)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--json", type=Path, help="also write the results as JSON")
    p.add_argument("--record", action="store_true", help="store the figures in the shipped cards")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = bench_fetal_head(args.frames)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'model':<30}{'params':>8}{'p50 ms':>9}{'p95 ms':>9}{'x baseline':>12}")
    for r in rows:
        print(f"{r['model']:<30}{r['params_M']:>7.2f}M{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}"
              f"{r['ratio_to_baseline_p50']:>12.2f}")
    print(f"peak resident memory of this process: {peak_mb:.0f} MB ({args.threads} torch threads)")
    if args.record:
        record_in_cards(rows, peak_mb, args.threads)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "peak_rss_mb": peak_mb,
                                         "threads": args.threads}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
