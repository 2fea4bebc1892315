"""Latency and memory benchmark of the case pipelines, as ratios against a baseline.

    python -m train.bench [--frames 30] [--threads 2] [--json runs/bench.json]

Fetal head: the whole case pipeline (decode PNG -> segment -> ellipse -> HC/BPD/OFD) per
800x540 frame, for each shipped model and for segmentation-models-pytorch's default
``Unet("resnet34")`` (random init) at the same input size, measured in the same run. Absolute
times depend on the machine; the ratio to the baseline is what to compare across machines.
"""
from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import segmentation_models_pytorch as smp
import torch

from core import fetal_head
from core.imaging import load_image, to_gray_u8
from core.segmentation import Segmenter
from core.tasks import get_task
from core.weights import ModelCard, read_card


def percentiles(fn: Callable[[int], object], n: int, warmup: int = 3) -> dict[str, float]:
    """p50 / p95 / mean wall time of ``fn(i)`` in ms over ``n`` calls after a warm-up."""
    for i in range(warmup):
        fn(i)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95)),
            "mean_ms": float(np.mean(times))}


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
    ref_card = next(iter(segmenters.values())).card if segmenters else read_card(task.weights_dir("unet"))
    segmenters["smp Unet(resnet34) baseline"] = baseline_segmenter(ref_card)
    rows = []
    for name, seg in segmenters.items():
        def run(i: int, seg: Segmenter = seg) -> object:
            data, px = frames[i % len(frames)]
            return fetal_head.analyse(seg, to_gray_u8(load_image(data)), px)

        rows.append({"task": "fetal_head", "model": name, "input": "800x540 PNG",
                     "params_M": sum(p.numel() for p in seg.model.parameters()) / 1e6,
                     **percentiles(run, n)})
    base = rows[-1]["p50_ms"]
    for r in rows:
        r["ratio_to_baseline_p50"] = r["p50_ms"] / base
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=30, help="timed frames per model (default 30)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--json", type=Path, help="also write the results as JSON")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = bench_fetal_head(args.frames)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'model':<30}{'params':>8}{'p50 ms':>9}{'p95 ms':>9}{'x baseline':>12}")
    for r in rows:
        print(f"{r['model']:<30}{r['params_M']:>7.2f}M{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}"
              f"{r['ratio_to_baseline_p50']:>12.2f}")
    print(f"peak resident memory of this process: {peak_mb:.0f} MB ({args.threads} torch threads)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "peak_rss_mb": peak_mb,
                                         "threads": args.threads}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
