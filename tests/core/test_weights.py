"""core.weights: model cards, safetensors round trips and every way a weights folder can be wrong."""
from __future__ import annotations

import hashlib
import json
import struct

import pytest
import torch
from torch import nn

from core.models import create_model, get_spec
from core.weights import (
    CARD_FILE,
    SCHEMA_VERSION,
    WEIGHTS_FILE,
    ModelCard,
    WeightsError,
    load_model,
    read_card,
    save_model,
)

SMALL_SEGNET = {"in_channels": 1, "classes": 1, "widths": [4, 8, 8, 16, 16], "convs_per_stage": 1}


def _card(arch: str = "segnet", arch_config: dict | None = None, **kw) -> ModelCard:
    return ModelCard(
        task="fetal_head",
        arch=arch,
        arch_config=dict(SMALL_SEGNET if arch_config is None else arch_config),
        labels=["head"],
        input={"size": [64, 96], "resize": "letterbox", "mean": [0.5], "std": [0.25]},
        postprocess={"threshold": 0.5, "largest_component": True},
        **kw,
    )


def _randomised(model: nn.Module, seed: int = 0) -> nn.Module:
    """Fill every floating parameter and buffer with values that fp16 cannot hold exactly."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                vals = torch.rand(t.shape, generator=g) * 0.2 + 0.01
                t.copy_(vals if "running_var" in name else vals - 0.1)
    return model.eval()


def _fp16_rounded(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose floating state went through fp16 and back."""
    import copy

    out = copy.deepcopy(model)
    out.load_state_dict({k: v.half().float() if v.is_floating_point() else v
                         for k, v in model.state_dict().items()})
    return out.eval()


@pytest.fixture()
def saved(tmp_path):
    """A small SegNet with randomised state saved to ``tmp_path``: (model, card, folder)."""
    model = _randomised(create_model("segnet", **SMALL_SEGNET))
    card = save_model(model, _card(training={"synthetic": True, "data": "phantoms"}), tmp_path)
    return model, card, tmp_path


def _edit_card(folder, **changes) -> None:
    path = folder / CARD_FILE
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize("arch,cfg", [("segnet", SMALL_SEGNET), ("unet", {})])
def test_round_trip_is_exact_up_to_fp16_rounding(tmp_path, arch, cfg):
    torch.manual_seed(0)
    model = _randomised(create_model(arch, **cfg))
    full_cfg = {**get_spec(arch).defaults, **cfg}
    card = save_model(model, _card(arch, json.loads(json.dumps(full_cfg))), tmp_path)
    loaded, card2 = load_model(tmp_path)
    assert card2 == card
    x = torch.randn(2, 1, 64, 96)
    with torch.no_grad():
        got, want, orig = loaded(x), _fp16_rounded(model)(x), model(x)
    assert torch.equal(got, want)
    # The fp16 rounding is real (the weights were not stored as float32)...
    before, after = model.state_dict(), loaded.state_dict()
    assert before.keys() == after.keys()
    assert not all(torch.equal(before[k], after[k]) for k in before)
    # ...and small.
    assert torch.allclose(got, orig, rtol=1e-2, atol=1e-2)


def test_weights_section_describes_the_file(saved):
    model, card, folder = saved
    data = (folder / WEIGHTS_FILE).read_bytes()
    w = card.weights
    assert w["file"] == WEIGHTS_FILE
    assert w["sha256"] == hashlib.sha256(data).hexdigest()
    assert w["bytes"] == len(data)
    assert w["params"] == sum(p.numel() for p in model.parameters())
    assert w["dtype"] == "float16"
    # The card on disk is the card returned.
    assert read_card(folder) == card
    assert json.loads((folder / CARD_FILE).read_text())["weights"] == w


def test_save_leaves_the_model_untouched(saved):
    model, _, _ = saved
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert not model.training


def test_loaded_model_is_eval_float32(saved):
    _, _, folder = saved
    model, _ = load_model(folder)
    assert not any(m.training for m in model.modules())
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(b.dtype in (torch.float32, torch.int64) for b in model.buffers())
    assert next(model.parameters()).device.type == "cpu"


def test_safetensors_file_is_not_a_pickle(saved, monkeypatch):
    _, card, folder = saved
    data = (folder / WEIGHTS_FILE).read_bytes()
    assert not data.startswith(b"\x80")  # pickle protocol 2+
    assert not data.startswith(b"PK")  # torch.save zip archive
    (n,) = struct.unpack("<Q", data[:8])
    assert 8 + n < len(data)
    header = json.loads(data[8 : 8 + n])
    assert header["__metadata__"] == {"arch": "segnet", "task": "fetal_head"}
    dtypes = {v["dtype"] for k, v in header.items() if k != "__metadata__"}
    assert "F16" in dtypes and "F32" not in dtypes

    def no_unpickling(*args, **kwargs):
        raise AssertionError("torch.load must never be used to read weights")

    monkeypatch.setattr(torch, "load", no_unpickling)
    model, _ = load_model(folder)
    assert isinstance(model, nn.Module)


@pytest.mark.parametrize("training,expected", [({"synthetic": True}, True), ({"synthetic": False}, False),
                                               ({}, False)])
def test_card_synthetic_reflects_training(tmp_path, training, expected):
    card = _card(training=training)
    assert card.synthetic is expected
    save_model(_randomised(create_model("segnet", **SMALL_SEGNET)), card, tmp_path)
    assert read_card(tmp_path).synthetic is expected


def test_card_json_round_trip():
    card = _card(training={"synthetic": True}, metrics={"validation": {"dice": 0.9}}, title="t")
    again = ModelCard.from_dict(json.loads(card.to_json()))
    assert again == card
    assert again.schema == SCHEMA_VERSION


def test_unknown_card_keys_are_ignored():
    data = json.loads(_card().to_json())
    data["added_by_a_future_version"] = 1
    assert ModelCard.from_dict(data) == _card()


# ---------------------------------------------------------------- refusals


def test_one_tampered_byte_is_refused(saved):
    _, _, folder = saved
    path = folder / WEIGHTS_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_model(folder)


def test_edited_card_sha256_is_refused(saved):
    _, card, folder = saved
    _edit_card(folder, weights={**card.weights, "sha256": "0" * 64})
    with pytest.raises(WeightsError, match="sha256"):
        load_model(folder)


def test_card_without_sha256_is_refused(saved):
    _, card, folder = saved
    _edit_card(folder, weights={k: v for k, v in card.weights.items() if k != "sha256"})
    with pytest.raises(WeightsError, match="sha256"):
        load_model(folder)


def test_missing_card(saved):
    _, _, folder = saved
    (folder / CARD_FILE).unlink()
    with pytest.raises(WeightsError, match=f"no {CARD_FILE}"):
        load_model(folder)
    with pytest.raises(WeightsError, match=WEIGHTS_FILE):  # says what a folder should hold
        read_card(folder)


def test_missing_folder(tmp_path):
    with pytest.raises(WeightsError, match=CARD_FILE):
        load_model(tmp_path / "does-not-exist")


def test_missing_weights_file(saved):
    _, _, folder = saved
    (folder / WEIGHTS_FILE).unlink()
    with pytest.raises(WeightsError, match=f"{WEIGHTS_FILE} is missing"):
        load_model(folder)


def test_invalid_json(saved):
    _, _, folder = saved
    (folder / CARD_FILE).write_text('{"task": "fetal_head", ')
    with pytest.raises(WeightsError, match="not valid JSON"):
        load_model(folder)


@pytest.mark.parametrize("key", ["task", "arch", "arch_config", "labels", "input", "postprocess"])
def test_card_missing_required_key(saved, key):
    _, _, folder = saved
    data = json.loads((folder / CARD_FILE).read_text())
    del data[key]
    (folder / CARD_FILE).write_text(json.dumps(data))
    with pytest.raises(WeightsError, match=f"lacks {key}"):
        load_model(folder)


def test_unsupported_schema(saved):
    _, _, folder = saved
    _edit_card(folder, schema=SCHEMA_VERSION + 1)
    with pytest.raises(WeightsError, match=f"schema {SCHEMA_VERSION + 1} is not supported"):
        load_model(folder)


@pytest.mark.parametrize("change", [{"classes": 3}, {"widths": [4, 8, 8, 16, 32]}, {"convs_per_stage": 2}])
def test_arch_config_that_does_not_fit_the_weights(saved, change):
    _, card, folder = saved
    _edit_card(folder, arch_config={**card.arch_config, **change})
    with pytest.raises(WeightsError, match="do not fit"):
        load_model(folder)


def test_card_for_another_architecture(saved):
    _, _, folder = saved
    _edit_card(folder, arch="unet", arch_config={})
    with pytest.raises(WeightsError, match="do not fit architecture 'unet'"):
        load_model(folder)


def test_card_naming_an_unknown_architecture(saved):
    _, _, folder = saved
    _edit_card(folder, arch="no-such-arch")
    with pytest.raises(WeightsError, match="no-such-arch"):
        load_model(folder)


def test_card_with_an_unknown_arch_config_key(saved):
    _, card, folder = saved
    _edit_card(folder, arch_config={**card.arch_config, "depth": 7})
    with pytest.raises(WeightsError, match="depth"):
        load_model(folder)


def test_card_that_is_not_a_json_object(saved):
    _, _, folder = saved
    (folder / CARD_FILE).write_text("[1, 2, 3]")
    with pytest.raises(WeightsError, match="object"):
        read_card(folder)


def test_write_history_writes_the_rows_and_skips_an_empty_list(tmp_path) -> None:
    import csv

    from core.weights import HISTORY_FILE, write_history

    write_history(tmp_path / "none", [])
    assert not (tmp_path / "none").exists()
    write_history(tmp_path / "m", [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}])
    with (tmp_path / "m" / HISTORY_FILE).open() as fh:
        assert list(csv.DictReader(fh)) == [{"epoch": "1", "loss": "0.5"}, {"epoch": "2", "loss": "0.25"}]
