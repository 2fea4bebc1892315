"""Latency and memory benchmark of the case pipelines, as ratios against a baseline.

    python -m train.bench [--task {fetal_head,nerve,brain_tumor,face,face_screening,lab,all}] [--frames 30]
                          [--threads 2] [--batch-size 1 4 8] [--json runs/bench.json] [--record]

Each timed call is one frame through a task's whole case pipeline:

- fetal head: decode PNG -> segment (the card's test-time views) -> ellipse -> HC/BPD/OFD and their
  spread, the bundled real 800x540 HC18 frames;
- nerve: decode TIFF -> segment (threshold, min area, largest component, presence veto) ->
  run-length encode the mask, 580x420 frame (the Kaggle submission's pipeline);
- brain tumour: decode a 256x256x64 .nii.gz phantom -> reorient -> window -> the U-Net on every
  axial slice -> stacked mask -> tumour volume in mL (issue target: <= 3 s per volume); at most 6
  timed volumes per model;
- face: decode JPEG -> Face Mesh on the photo and its mirror -> region label mask -> the 15
  measurements, 512x600 portrait, against one Face Mesh pass on the same photo as the baseline;
- lab: the model lab on real-size frames read from the bundled folders (800x540 HC18, 580x420 nerve,
  256x256x3 LGG slices), as the page evaluates them: frames/s at each batch size and the time per
  frame in decoding, the network and scoring (train/bench_lab.py; target: the default fetal head
  model >= 10 frames/s).

Every shipped model of the task is timed, and so is segmentation-models-pytorch's default
``Unet("resnet34")`` (random init) fed exactly like them (the task's input size and
post-processing), interleaved frame by frame in the same run. Absolute times depend on the
machine; the ratio to the baseline is what to compare across machines. Missing weights folders are
skipped. ``--record`` stores each shipped model's figures in its card under ``metrics.bench``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np
import segmentation_models_pytorch as smp
import torch

from core.analysis import fetal_head
from core.datasets import read_hc18
from core.io.image import load_image, to_gray_u8
from core.predict import Segmenter
from core.rle import rle_encode
from core.tasks import TaskSpec, get_task
from core.weights import ModelCard, read_card, write_card
from train.bench_lab import bench_lab, print_lab_table

BASELINE = "smp Unet(resnet34) baseline"


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
    """PNG bytes and pixel sizes of up to ``n`` of the bundled REAL HC18 frames (800x540), reused
    cyclically by the timing loop (decode is part of the pipeline)."""
    task = get_task("fetal_head")
    cases = list(read_hc18(task.samples_dir, "training_set"))[:n]
    return [((task.samples_dir / "training_set" / c.name).read_bytes(), c.pixel_size_mm) for c in cases]


def fetal_pipeline(seg: Segmenter, frame: tuple[bytes, float]) -> object:
    """One fetal head case: decode, segment, fit the ellipse, measure."""
    data, px = frame
    return fetal_head.analyse(seg, to_gray_u8(load_image(data)), px)


def nerve_frames(n: int, per_subject: int = 5) -> list[bytes]:
    """TIFF bytes of ``n`` fresh 580x420 nerve phantom frames, ``per_subject`` from each sweep."""
    from train.phantoms.nerve import generate

    phantoms = generate(math.ceil(n / per_subject), per_subject, 777)
    return [cv2.imencode(".tif", ph.image)[1].tobytes() for ph in phantoms][:n]


def nerve_pipeline(seg: Segmenter, frame: bytes) -> str:
    """One nerve frame: decode, segment (card post-processing and presence veto), RLE."""
    return rle_encode(seg.predict(to_gray_u8(load_image(frame))).mask)


BRAIN_SHAPE = (64, 256, 256)  # the target: a 256x256x64 volume in <= 3 s
BRAIN_TARGET_S = 3.0


def brain_volumes(n: int) -> list[bytes]:
    """``n`` procedural head phantoms of 64 slices x 256 x 256 as .nii.gz bytes (a fresh seed)."""
    from core.io.nifti import to_nifti_bytes
    from core.io.volume import volume_from_display
    from train.phantoms.brain_mri import procedural_case

    rng = np.random.default_rng(777)
    out = []
    for i in range(n):
        ph = procedural_case(rng, f"bench_{i}", slices=BRAIN_SHAPE[0])
        out.append(to_nifti_bytes(ph.image, volume_from_display(ph.image, ph.spacing_mm), dtype=np.uint16))
    return out


def brain_pipeline(seg: Segmenter, data: bytes) -> float | None:
    from core.analysis.brain import tumour_volume_ml
    from core.io.volume import load_volume
    from core.predict import VolumeSegmenter

    vol = load_volume(data)
    # A 3-sequence model is timed on the volume given as each of its sequences: same work per slice.
    voxels = vol.voxels if seg.channels == 1 else np.repeat(vol.voxels[..., None], seg.channels, axis=-1)
    return tumour_volume_ml(VolumeSegmenter(seg).predict(voxels).mask, vol.spacing_mm)


class Pipeline(NamedTuple):
    """How a task is benchmarked: its frames, one timed call, and both in words."""

    input: str  # the frame, for the table and the rows
    text: str  # what one timed call does, recorded in the cards
    frames: Callable[[int], Sequence[Any]]
    run: Callable[[Segmenter, Any], object]
    max_calls: int = 0  # cap on timed calls per model (0: --frames); whole volumes take seconds


PIPELINES: dict[str, Pipeline] = {
    "fetal_head": Pipeline("800x540 PNG", "decode PNG -> segment (with the card's test-time views) -> "
                           "ellipse -> HC/BPD/OFD and their spread, real 800x540 HC18 frame",
                           fetal_frames, fetal_pipeline),
    "nerve": Pipeline("580x420 TIFF", "decode TIFF -> segment (threshold, min area, presence) -> RLE, "
                      "580x420 frame", nerve_frames, nerve_pipeline),
    "brain_tumor": Pipeline("256x256x64 NIfTI", "decode .nii.gz -> reorient -> window -> segment 64 axial "
                            "slices -> stack -> tumour volume (mL), 256x256x64 volume",
                            brain_volumes, brain_pipeline, max_calls=6),
}


def baseline_segmenter(card: ModelCard) -> Segmenter:
    """smp's default Unet("resnet34"), random init, fed exactly like the shipped model."""
    model = smp.Unet("resnet34", encoder_weights=None, in_channels=1, classes=1)
    return Segmenter(model.eval(), card)


def bench_task(task: TaskSpec, frames: Sequence[Any], run: Callable[[Segmenter, Any], object],
               input_desc: str, n: int | None = None) -> list[dict[str, object]]:
    """Time ``run(segmenter, frame)`` for each shipped model of ``task`` and the baseline.

    Returns one row per model, the baseline last, each with ``ratio_to_baseline_p50``;
    ``n`` timed calls per model (default: one per frame, frames are reused cyclically).
    """
    segmenters = {m: Segmenter.from_folder(task.weights_dir(m)) for m in task.models
                  if task.weights_dir(m).joinpath("model.json").is_file()}
    # The baseline is fed exactly as the task's models are: same input size and post-processing.
    baseline_card = ModelCard(task=task.name, arch="smp-Unet-resnet34", arch_config={},
                              labels=list(task.labels), input=task.input, postprocess=task.postprocess)
    segmenters[BASELINE] = baseline_segmenter(baseline_card)

    def call(seg: Segmenter) -> Callable[[int], object]:
        return lambda i: run(seg, frames[i % len(frames)])

    timings = interleaved({name: call(seg) for name, seg in segmenters.items()}, n or len(frames))
    rows = [{"task": task.name, "model": name, "input": input_desc,
             "params_M": sum(p.numel() for p in seg.model.parameters()) / 1e6, **timings[name]}
            for name, seg in segmenters.items()]
    for r in rows:
        r["ratio_to_baseline_p50"] = r["p50_ms"] / timings[BASELINE]["p50_ms"]
    return rows


def bench(task_name: str, n: int) -> list[dict[str, object]]:
    """Benchmark the task called ``task_name`` through its :data:`PIPELINES` entry, ``n`` frames."""
    pipe = PIPELINES[task_name]
    n = min(n, pipe.max_calls) if pipe.max_calls else n
    return bench_task(get_task(task_name), pipe.frames(min(n, 3) if pipe.max_calls else n), pipe.run,
                      pipe.input, n)


def record_in_cards(task: TaskSpec, rows: list[dict[str, object]], peak_mb: float, threads: int) -> None:
    """Write each shipped model's row of ``task`` into its card (weights and sha256 untouched)."""
    mine = [r for r in rows if r["task"] == task.name]
    base = next(r for r in mine if r["model"] == BASELINE)
    for r in mine:
        if r is base:
            continue
        folder = task.weights_dir(str(r["model"]))
        card = read_card(folder)
        bench_row = {"pipeline": PIPELINES[task.name].text,
                     "p50_ms": round(float(r["p50_ms"]), 1), "p95_ms": round(float(r["p95_ms"]), 1),
                     "baseline": "smp Unet('resnet34'), same input size, same run",
                     "baseline_p50_ms": round(float(base["p50_ms"]), 1),
                     "ratio_to_baseline_p50": round(float(r["ratio_to_baseline_p50"]), 3),
                     "peak_rss_mb": round(peak_mb),
                     "machine": f"{os.cpu_count()} CPU cores, {threads} torch threads",
                     "command": f"python -m train.bench --task {task.name} --record"}
        write_card(folder, replace(card, metrics={**card.metrics, "bench": bench_row}))


FACE_TEXT = ("decode JPEG -> Face Mesh on the photo and its mirror -> region masks -> 15 measurements -> "
             "the face parser (FASSEG classes, mirrored view) on the framed head, as the face page does")
FACE_BASELINE = "Face Mesh alone, one pass (baseline)"


def face_photos(n: int) -> list[bytes]:
    """JPEG bytes of the bundled portrait at ``n`` slightly different scales and rotations."""
    import matplotlib

    photo = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    rgb = cv2.imread(str(photo))
    h, w = rgb.shape[:2]
    out = []
    for i in range(n):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), (i % 7 - 3) * 2.0, 1.0 + (i % 5 - 2) * 0.05)
        out.append(cv2.imencode(".jpg", cv2.warpAffine(rgb, m, (w, h)))[1].tobytes())
    return out


def bench_face(n: int) -> list[dict[str, object]]:
    """The face analysis pipeline per photo, against one Face Mesh pass on the same photo."""
    from core.face.anthropometry import measure_face
    from core.face.landmarks import detect_landmarks, oriented_rgb
    from core.face.region_net import FaceParser, parser_box
    from core.face.regions import region_label_mask

    photos = face_photos(n)
    task = get_task("face_regions")
    folder = task.weights_dir(task.default_model)
    parser = FaceParser.from_folder(folder) if (folder / "model.json").is_file() else None

    def full(i: int) -> object:
        rgb = oriented_rgb(photos[i % n])
        lm = detect_landmarks(rgb)
        parsed = parser.predict(rgb, parser_box(lm)).labels if parser is not None else None
        return region_label_mask(lm), measure_face(lm.points), parsed

    def mesh_only(i: int) -> object:
        return detect_landmarks(oriented_rgb(photos[i % n]), mirror_average=False)

    timings = interleaved({"face pipeline": full, FACE_BASELINE: mesh_only}, n)
    return [{"task": "face", "model": name, "input": "512x600 JPEG", "params_M": 0.0, **t,
             "ratio_to_baseline_p50": t["p50_ms"] / timings[FACE_BASELINE]["p50_ms"]}
            for name, t in timings.items()]


SCREENING_TEXT = ("decode JPEG -> Face Mesh on the photo and its mirror -> align, region crops -> "
                  "whole-face + region CNNs, softmaxes averaged -> Grad-CAM of the top class for every "
                  "member and view, as the screening page computes by default")


def screening_models() -> dict[str, object]:
    """Name -> Screener: the shipped screening models, or a random-init default-size ensemble when
    none is shipped (the timing depends on the architecture, not on the weights)."""
    from core.face.screening import Screener
    from train.classifier import new_model, parse_args, screening_card

    found = {name: Screener.from_folder(d) for name, d in get_task("face_screening").weights_dirs().items()}
    if found:
        return found
    args = parse_args(["--phantoms", "1", "--screen-task", "skin"])
    labels = ["a", "b", "c", "d"]
    return {"default size, random init": Screener(new_model(args, len(labels), 0).eval(),
                                                  screening_card(args, labels))}


def bench_screening(n: int) -> list[dict[str, object]]:
    """One photo through landmarks, alignment, the whole ensemble and the Grad-CAM of every member
    and view (the page's default), per screening model, against one Face Mesh pass on the same photo."""
    from core.face.landmarks import detect_landmarks, oriented_rgb
    from core.face.screening_cam import classification_cam

    photos = face_photos(n)
    models = screening_models()

    def pipeline(screener: object) -> Callable[[int], object]:
        def run(i: int) -> object:
            rgb = oriented_rgb(photos[i % n])
            result = screener.predict(rgb, detect_landmarks(rgb))
            views = [(m, v) for m in screener.members for v in range(len(result.crops.get(m, [None])))]
            return [classification_cam(screener, result, result.top_index, m, v) for m, v in views]
        return run

    def mesh_only(i: int) -> object:
        return detect_landmarks(oriented_rgb(photos[i % n]), mirror_average=False)

    first, rgb0 = next(iter(models.values())), oriented_rgb(photos[0])
    classification_cam(first, first.predict(rgb0, detect_landmarks(rgb0)), 0)  # the CAM copy, made once
    fns = {f"screening: {name}": pipeline(s) for name, s in models.items()}
    timings = interleaved({**fns, FACE_BASELINE: mesh_only}, n)
    params = {f"screening: {name}": sum(p.numel() for p in s.model.parameters()) / 1e6
              for name, s in models.items()}
    return [{"task": "face_screening", "model": name, "input": "512x600 JPEG",
             "params_M": params.get(name, 0.0), **t,
             "ratio_to_baseline_p50": t["p50_ms"] / timings[FACE_BASELINE]["p50_ms"]}
            for name, t in timings.items()]


def print_table(task: TaskSpec | None, rows: list[dict[str, object]], title: str = "") -> None:
    """One task's rows as a plain-text table (``task`` None: the face pipeline, or ``title``)."""
    print(f"\n{task.title} ({PIPELINES[task.name].text})" if task
          else f"\n{title or 'Face analysis (' + FACE_TEXT + ')'}")
    print(f"{'model':<30}{'params':>8}{'p50 ms':>9}{'p95 ms':>9}{'x baseline':>12}")
    for r in rows:
        print(f"{r['model']:<30}{r['params_M']:>7.2f}M{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}"
              f"{r['ratio_to_baseline_p50']:>12.2f}")


# Issue 24's fetal moonshot: a fetal model at least 3x faster than the baseline in the same run whose
# held-out HC error (its card's validation_hc18) is no worse than the shipped U-Net's.
MOONSHOT_SPEEDUP, MOONSHOT_REFERENCE = 3.0, "unet"


def held_out_hc_error(model: str) -> float | None:
    """Mean absolute HC error (mm) on the held-out HC18 exams recorded in a shipped fetal model's card."""
    folder = get_task("fetal_head").weights_dir(model)
    found = (read_card(folder).metrics.get("validation_hc18", {}).get("hc_abs_diff_mm_mean")
             if folder.joinpath("model.json").is_file() else None)
    return None if found is None else float(found)


def moonshot_lines(rows: Sequence[dict[str, object]]) -> list[str]:
    """One line per shipped fetal model of ``rows``: its speed-up over the baseline in this run and
    its held-out HC error against the reference U-Net's, and whether both meet the moonshot."""
    ref = held_out_hc_error(MOONSHOT_REFERENCE)
    lines = [f"moonshot target: >= {MOONSHOT_SPEEDUP:g}x faster than the baseline (pipeline p50, this run) "
             f"and held-out HC error <= the shipped {MOONSHOT_REFERENCE}'s"]
    for r in (r for r in rows if r["task"] == "fetal_head" and r["model"] != BASELINE):
        speedup, err = 1 / float(r["ratio_to_baseline_p50"]), held_out_hc_error(str(r["model"]))
        ok = err is not None and ref is not None and speedup >= MOONSHOT_SPEEDUP and err <= ref
        err_text = "no held-out HC error in its card" if err is None else f"HC error {err:.2f} mm"
        ref_text = "" if ref is None else f" ({MOONSHOT_REFERENCE}: {ref:.2f} mm)"
        verdict = "yes" if ok else "no"
        lines.append(f"  {r['model']:<28} {speedup:5.1f}x faster, {err_text}{ref_text}: {verdict}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=[*PIPELINES, "face", "face_screening", "lab", "all"], default="all",
                   help="task (default all)")
    p.add_argument("--frames", type=int, default=30, help="timed frames per model (default 30)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--batch-size", type=int, nargs="+", default=[1, 4],
                   help="cases per forward pass of the lab engine, one row each (--task lab; default 1 4)")
    p.add_argument("--json", type=Path, help="also write the results as JSON")
    p.add_argument("--record", action="store_true", help="store the figures in the shipped cards")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows: list[dict[str, object]] = []
    for name in PIPELINES if args.task == "all" else [t for t in [args.task] if t in PIPELINES]:
        task, task_rows = get_task(name), bench(name, args.frames)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # so far, this process
        print_table(task, task_rows)
        if name == "fetal_head":
            print("\n".join(moonshot_lines(task_rows)))
        if args.record:
            record_in_cards(task, task_rows, peak_mb, args.threads)
        rows += task_rows
    if args.task in ("face", "all"):
        face_rows = bench_face(args.frames)
        print_table(None, face_rows)
        rows += face_rows
    if args.task in ("face_screening", "all"):
        screening_rows = bench_screening(args.frames)
        print_table(None, screening_rows, f"Face screening ({SCREENING_TEXT})")
        rows += screening_rows
    if args.task in ("lab", "all"):
        lab_rows = bench_lab(args.frames, args.batch_size)
        print_lab_table(lab_rows)
        rows += lab_rows
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of this process: {peak_mb:.0f} MB ({args.threads} torch threads)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "peak_rss_mb": peak_mb,
                                         "threads": args.threads}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
