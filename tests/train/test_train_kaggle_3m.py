"""Training the brain slice model on an LGG kaggle_3m folder: FLAIR alone or all three sequences,
and a three-sequence model started from a FLAIR one."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.models import create_model
from core.tasks import get_task
from core.weights import load_model, read_card
from tests.train.test_evaluate_kaggle_3m import write_lgg
from train import segmentation
from train.data import dataset_cases, dataset_title
from train.seg_init import widen_first_conv

TASK = get_task("brain_tumor")


def tiny(data: Path, out: Path, channels: int, *extra: str) -> list[str]:
    return ["--task", "brain_tumor", "--arch", "cnn", "--arch-config", f"in_channels={channels}",
            *[f"{k}={v}" for k, v in [("widths", "[4,8,8,8,8]"), ("convs", "[1,1,1,1,1]")]],
            "--data", str(data), "--out", str(out), "--epochs", "1", "--batch-size", "2",
            "--crop", "16", "16", "--input-size", "32", "32", "--val-frac", "0.5", "--threads", "1", *extra]


@pytest.mark.parametrize("channels", [1, 3])
def test_kaggle_3m_cases_give_flair_or_all_three_sequences_windowed_per_patient(tmp_path: Path,
                                                                                 channels: int) -> None:
    cases = list(dataset_cases(TASK, write_lgg(tmp_path), channels, "volume_percentile"))  # 200 -> 255
    assert len(cases) == 5 and {c.group for c in cases} == {"TCGA_AA_0001_20000101", "TCGA_BB_0002_20000202"}
    first = cases[0]  # patient AA, slice 1: FLAIR bright on row 0 only, the others on the last 3 rows
    if channels == 1:
        assert first.image.shape == (16, 16) and first.image[0].min() == 255 and first.image[-1].max() == 0
    else:
        assert first.image.shape == (16, 16, 3)
        assert first.image[0, :, 1].min() == 255 and first.image[-1, :, 0].min() == 255
        assert first.image[5, :, 1].max() == 0
    what = dataset_title(TASK, tmp_path, channels)
    assert ("pre-contrast, FLAIR and post-contrast" in what) == (channels == 3)


def test_widening_puts_the_flair_weights_on_the_flair_input() -> None:
    one = create_model("cnn", in_channels=1, widths=[4, 8, 8, 8, 8], convs=[1, 1, 1, 1, 1])
    three = create_model("cnn", in_channels=3, widths=[4, 8, 8, 8, 8], convs=[1, 1, 1, 1, 1])
    wide = widen_first_conv(one.state_dict(), three.state_dict(), first=1)
    three.load_state_dict(wide)
    one.eval(), three.eval()
    x = torch.rand(1, 1, 32, 32)
    others = torch.rand(1, 1, 32, 32)
    with torch.no_grad():  # the other sequences have no say yet: the same output as the FLAIR model
        assert torch.allclose(one(x), three(torch.cat([others, x, others * 2], 1)), atol=1e-5)


def test_a_three_sequence_model_trains_from_a_flair_model(tmp_path: Path) -> None:
    data = write_lgg(tmp_path / "lgg")
    flair = tmp_path / "flair"
    assert segmentation.main(tiny(data, flair, 1)) == 0
    card = read_card(flair)
    assert card.arch_config["in_channels"] == 1 and "FLAIR slices" in card.training["data"]
    wide = tmp_path / "three"
    assert segmentation.main(tiny(data, wide, 3, "--init", str(flair))) == 0
    card = read_card(wide)
    assert card.arch_config["in_channels"] == 3
    assert "pre-contrast, FLAIR and post-contrast" in card.training["data"]
    assert "FLAIR input, zero on the other 2" in card.training["init"]
    model, _ = load_model(wide)
    assert next(model.parameters()).shape[1] == 3
    with pytest.raises(SystemExit, match="not this run's"):  # 3 -> 1 is no widening
        segmentation.main(tiny(data, tmp_path / "x", 1, "--init", str(wide)))
    assert np.isfinite(card.metrics["validation"]["dice_mean"])


def test_make_samples_bundles_the_lgg_patient_and_keeps_it_without_a_source(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from train import make_samples

    data = write_lgg(tmp_path / "lgg")
    monkeypatch.setattr(make_samples, "LGG_SAMPLE", "TCGA_BB_0002_20000202")
    out = make_samples.make_brain_mri(tmp_path / "samples" / "brain_mri", 1, data)
    patient = out / "kaggle_3m" / "TCGA_BB_0002_20000202"
    assert sorted(p.name for p in patient.iterdir())[0] == "TCGA_BB_0002_20000202_1.tif"
    assert "CC BY 3.0" in (out / "kaggle_3m" / "README.md").read_text()
    assert (out / "imagesTr" / "brain_phantom_01.nii.gz").is_file()
    again = make_samples.make_brain_mri(out, 1, tmp_path / "nowhere")  # no source: the bundled one stays
    assert len(list((again / "kaggle_3m" / "TCGA_BB_0002_20000202").iterdir())) == 4


def test_a_run_with_the_median_window_trains_on_it_and_writes_it_in_its_card(tmp_path: Path) -> None:
    from core.analysis.brain_patients import model_input
    from core.datasets import read_kaggle_3m_volumes
    from core.predict import window_sequences

    data = write_lgg(tmp_path / "lgg")
    cases = list(dataset_cases(TASK, data, 3, "volume_median"))
    first = next(iter(read_kaggle_3m_volumes(data)))
    want = window_sequences(model_input(first, 3), "volume_median")
    np.testing.assert_array_equal(cases[0].image, want[0])
    assert not np.array_equal(want, window_sequences(model_input(first, 3)))
    out = tmp_path / "median"
    assert segmentation.main(tiny(data, out, 3, "--window", "volume_median")) == 0
    assert read_card(out).input["window"] == "volume_median"
    assert read_card(out).training["config"]["window"] == "volume_median"


def test_an_antialiased_run_starts_from_weights_trained_without_it(tmp_path: Path) -> None:
    data = write_lgg(tmp_path / "lgg")

    def run(out: Path, *config: str, init: Path | None = None) -> int:
        return segmentation.main([
            "--task", "brain_tumor", "--arch", "unet_mobilenet", "--arch-config", "in_channels=3",
            "decoder_channels=[8,8,8,8,8]", *config, "--data", str(data), "--out", str(out), "--epochs", "1",
            "--batch-size", "2", "--crop", "32", "32", "--input-size", "32", "32", "--val-frac", "0.5",
            "--threads", "1", *(["--init", str(init)] if init else [])])

    assert run(tmp_path / "plain") == 0
    assert run(tmp_path / "smooth", "antialias=true", init=tmp_path / "plain") == 0
    card = read_card(tmp_path / "smooth")
    assert card.arch_config["antialias"] is True and "plain" in card.training["init"]
    model, _ = load_model(tmp_path / "smooth")  # rebuilt with the blur from its card
    assert any(type(m).__name__ == "BlurPool" for m in model.modules())
    with pytest.raises(SystemExit, match="not this run's"):  # a parameter-changing setting still differs
        run(tmp_path / "x", "decoder_channels=[8,8,8,8,4]", init=tmp_path / "plain")


def test_a_run_at_another_input_size_starts_from_the_weights_and_says_so(tmp_path: Path) -> None:
    data = write_lgg(tmp_path / "lgg")
    small = tmp_path / "at32"
    assert segmentation.main(tiny(data, small, 3)) == 0
    big = tmp_path / "at64"
    assert segmentation.main([*tiny(data, big, 3, "--init", str(small)), "--input-size", "64", "64"]) == 0
    card = read_card(big)
    assert card.input["size"] == [64, 64]
    init = card.training["init"]
    assert "at32" in init and "trained at a 32x32 input, this run at 64x64" in init
    same = tmp_path / "again32"
    assert segmentation.main(tiny(data, same, 3, "--init", str(small))) == 0
    assert "input, this run at" not in read_card(same).training["init"]  # said only when the sizes differ
