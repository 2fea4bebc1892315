"""train.modality end to end on the bundled samples (a missing dataset folder is skipped)."""
from __future__ import annotations

from pathlib import Path

from core.predict.modality import ModalityGate
from core.weights import read_card
from train import modality
from train.modality import ModalityConfig

SAMPLES = Path(__file__).resolve().parents[2] / "data_samples"


def test_options_default_to_the_dataclass() -> None:
    argv = ["--data", "d"]
    assert modality.parse_args(argv) == ModalityConfig(data=Path("d"), argv=tuple(argv))


def test_a_tiny_run_writes_a_checked_card_with_held_out_figures(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "hc18").symlink_to(SAMPLES / "fetal_head")
    (shared / "lgg").symlink_to(SAMPLES / "brain_mri")
    out = tmp_path / "gate"
    assert modality.main(["--data", str(shared), "--out", str(out), "--epochs", "1", "--steps-per-epoch", "2",
                          "--batch-size", "6", "--size", "32", "--phantoms", "2", "--val-fraction", "0.5",
                          "--threads", "1"]) == 0
    card = read_card(out)
    assert card.labels == ["ultrasound", "mri", "other"] and card.postprocess == {"refuse_below": 0.05}
    counts = card.training["train_counts"]
    assert counts["nerve"] == 0 and counts["fasseg"] == 0 and counts["drawn"] == 2
    held = card.metrics["validation"]["held_out"]
    assert set(held) <= {"hc18", "lgg", "lgg_flair_only"} and held
    for row in held.values():
        lo, hi = row["refused_on_ultrasound"]["ci95"]
        assert 0 <= lo <= row["refused_on_ultrasound"]["rate"] <= hi <= 1
    gate = ModalityGate.from_folder(out)  # sha256 checked
    assert gate.size == 32 and (out / "history.csv").is_file()
