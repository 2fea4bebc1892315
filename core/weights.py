"""Self-describing weights folders: ``model.json`` (the model card) + ``model.safetensors``.

The loader rebuilds the network from the card alone (architecture name and config through
the registry), refuses a weights file whose sha256 differs from the card, and never unpickles.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save_file
from torch import nn

from core.models import create_model

log = logging.getLogger(__name__)

CARD_FILE = "model.json"
WEIGHTS_FILE = "model.safetensors"
HISTORY_FILE = "history.csv"
SCHEMA_VERSION = 1


class WeightsError(ValueError):
    """A weights folder is missing, malformed or does not match its card."""


@dataclass(frozen=True)
class ModelCard:
    """Everything needed to rebuild, feed and judge a trained model.

    Attributes:
        task: task name from ``core.tasks`` (e.g. ``"fetal_head"``).
        arch: registry name of the architecture (``core.models``).
        arch_config: builder arguments for :func:`core.models.create_model`.
        labels: names of the output channels (``["head"]`` for a binary mask).
        input: preprocessing: ``size`` [H, W], ``resize`` (``"letterbox"``), ``mean``, ``std``
            applied to pixel values scaled to [0, 1].
        postprocess: ``threshold`` on probability, ``largest_component``, ``min_area_px`` (and
            ``min_area_frac``, a share of the frame's pixels: the larger of the two applies).
        training: what trained it: ``synthetic`` (bool), ``data`` in words, ``command``, ...
        metrics: evaluations by name (``validation``, ``phantom_test``), each a dict.
        weights: ``file``, ``sha256``, ``dtype``, ``params``, ``bytes``.
        title: a short human name.
        intended_use: one sentence.
        explain: how to explain the model (optional; absent from older cards): for a face
            screening ensemble ``cam_stage`` (member -> the stage Grad-CAM hooks, -1 the deepest;
            a member not named uses -1) and how those stages were chosen (``selection``).
    """

    task: str
    arch: str
    arch_config: dict[str, Any]
    labels: list[str]
    input: dict[str, Any]
    postprocess: dict[str, Any]
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, Any] = field(default_factory=dict)
    title: str = ""
    intended_use: str = "Research and education only; not a medical device and not a diagnosis."
    schema: int = SCHEMA_VERSION
    explain: dict[str, Any] = field(default_factory=dict)

    @property
    def in_channels(self) -> int:
        """The network's input channels (``arch_config["in_channels"]``, 1 when unset): 1 reads a grey
        image, 3 an MRI slice's three sequences."""
        return int(self.arch_config.get("in_channels", 1))

    @property
    def context_slices(self) -> int:
        """How many neighbouring slices on either side a volume's slice model reads with each slice
        (``input["context_slices"]``, 0 when unset: the slice alone;
        :func:`core.windowing.slice_input`)."""
        return int(self.input.get("context_slices", 0))

    @property
    def sequences(self) -> int:
        """The channels (MRI sequences) the model needs of each slice of an input: its input channels
        over the slices it reads at once (:attr:`context_slices` on either side and the slice itself)."""
        return self.in_channels // (2 * self.context_slices + 1)

    @property
    def window(self) -> str:
        """How the model reads a volume's intensities (``input["window"]``, a
        :data:`core.windowing.WINDOWS` name; :data:`core.windowing.DEFAULT_WINDOW` when unset)."""
        from core.windowing import DEFAULT_WINDOW

        return str(self.input.get("window", DEFAULT_WINDOW))

    @property
    def synthetic(self) -> bool:
        """True when the training data were synthetic phantoms."""
        return bool(self.training.get("synthetic", False))

    def to_json(self) -> str:
        """The card as indented JSON text (an empty ``explain`` is left out, as older cards have it)."""
        data = asdict(self)
        if not data["explain"]:
            del data["explain"]
        return json.dumps(data, indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Build a card from parsed JSON, refusing unknown schemas and missing keys."""
        if data.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise WeightsError(f"model card schema {data.get('schema')} is not supported")
        known = set(cls.__dataclass_fields__)
        missing = {"task", "arch", "arch_config", "labels", "input", "postprocess"} - set(data)
        if missing:
            raise WeightsError(f"model card lacks {', '.join(sorted(missing))}")
        return cls(**{k: v for k, v in data.items() if k in known})


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def read_card(folder: str | Path) -> ModelCard:
    """Read ``model.json`` from a weights folder."""
    path = Path(folder) / CARD_FILE
    if not path.is_file():
        raise WeightsError(f"{folder}: no {CARD_FILE}; a weights folder holds {CARD_FILE} and "
                           f"{WEIGHTS_FILE}")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise WeightsError(f"{path}: expected a JSON object, got a {type(data).__name__}")
    return ModelCard.from_dict(data)


def write_card(folder: str | Path, card: ModelCard) -> None:
    """Write ``model.json`` (used to update metrics without touching the weights)."""
    (Path(folder) / CARD_FILE).write_text(card.to_json())


def save_model(
    model: nn.Module, card: ModelCard, folder: str | Path, *, dtype: torch.dtype = torch.float16
) -> ModelCard:
    """Write ``model.safetensors`` (floating tensors cast to ``dtype``; ``torch.int8``: see
    :func:`quantize_int8`) and its card.

    Returns:
        The card as written, with its ``weights`` section filled in (sha256, size, params).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if dtype == torch.int8:
        tensors = quantize_int8(model.state_dict())
    else:
        tensors = {
            k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
            for k, v in model.state_dict().items()
        }
    path = folder / WEIGHTS_FILE
    save_file(tensors, str(path), metadata={"arch": card.arch, "task": card.task})
    data = path.read_bytes()
    weights = {
        "file": WEIGHTS_FILE,
        "sha256": sha256_bytes(data),
        "dtype": str(dtype).removeprefix("torch."),
        "params": int(sum(p.numel() for p in model.parameters())),
        "bytes": len(data),
    }
    card = replace(card, weights=weights)
    write_card(folder, card)
    return card


def read_checked(folder: str | Path) -> tuple[ModelCard, bytes]:
    """A weights folder's card and its weights file's bytes, the file's sha256 checked against the
    card (what :func:`load_model` builds from; alone, a check that does not build the model).

    Raises:
        WeightsError: no readable card, a missing weights file or a sha256 mismatch.
    """
    folder = Path(folder)
    card = read_card(folder)
    path = folder / card.weights.get("file", WEIGHTS_FILE)
    if not path.is_file():
        raise WeightsError(f"{folder}: weights file {path.name} is missing")
    data = path.read_bytes()
    expected = card.weights.get("sha256")
    actual = sha256_bytes(data)
    if not expected or actual != expected:
        raise WeightsError(
            f"{path}: sha256 {actual[:12]}... does not match the card's {str(expected)[:12]}...; "
            "the file was changed or the card is stale; refusing to load it"
        )
    return card, data


def load_model(folder: str | Path, *, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelCard]:
    """Rebuild a model from its card and load its weights, checking the sha256 first.

    Returns:
        ``(model, card)`` with the model in eval mode, float32, on ``device``.

    Raises:
        WeightsError: missing files, a sha256 mismatch, or weights that do not fit the card.
    """
    folder = Path(folder)
    card, data = read_checked(folder)
    path = folder / card.weights.get("file", WEIGHTS_FILE)
    actual = card.weights["sha256"]
    try:
        model = create_model(card.arch, **card.arch_config)
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(
            f"{folder}: cannot build {card.arch!r} from the card's arch_config: {exc}"
        ) from None
    state = dequantize_int8(load_safetensors_bytes(data))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{path}: weights do not fit architecture {card.arch!r}: {exc}") from None
    log.info("loaded %s (%s, sha256 %s)", folder, card.arch, actual[:12])
    return model.to(device).eval(), card


INT8_SCALE = ".int8_scale"  # key suffix of a quantized tensor's per-output-channel scales


def quantize_int8(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weight-only int8 storage: every floating tensor of rank >= 2 (convolution and linear weights)
    becomes int8 with one float32 scale per output channel (symmetric, ``scale = max|w| / 127``), stored
    under ``<key>.int8_scale``; other floating tensors (biases, BatchNorm) become float16. A quarter of
    float32's bytes; the rounding error of a weight is at most half its channel's scale."""
    out: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        v = v.detach().cpu()
        if not v.is_floating_point():
            out[k] = v.contiguous()
        elif v.ndim < 2:
            out[k] = v.to(torch.float16).contiguous()
        else:
            w = v.float().reshape(v.shape[0], -1)
            scale = (w.abs().amax(dim=1) / 127.0).clamp_min(1e-12)
            q = (w / scale[:, None]).round().clamp(-127, 127).to(torch.int8)
            out[k] = q.reshape(v.shape).contiguous()
            out[k + INT8_SCALE] = scale.contiguous()
    return out


def dequantize_int8(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict in float32 from stored tensors: floating ones cast, int8 ones with a stored scale
    (:func:`quantize_int8`) multiplied back; other integer tensors as they are."""
    state: dict[str, torch.Tensor] = {}
    for k, v in tensors.items():
        if k.endswith(INT8_SCALE):
            continue
        scale = tensors.get(k + INT8_SCALE)
        if scale is not None and v.dtype == torch.int8:
            state[k] = (v.float().reshape(v.shape[0], -1) * scale.float()[:, None]).reshape(v.shape)
        else:
            state[k] = v.float() if v.is_floating_point() else v
    return state


def write_history(folder: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write per-epoch training rows as the folder's ``history.csv`` (columns: every key of the rows,
    in first-seen order, blank where a row lacks one); nothing when there are no rows yet."""
    if not rows:
        return
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / HISTORY_FILE).open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(k for r in rows for k in r)), restval="")
        writer.writeheader()
        writer.writerows(rows)
