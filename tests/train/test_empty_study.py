"""train.empty_study: the proxy-empty comparison table from train.evaluate summaries."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from train import empty_study


def _summary(folder: Path, **figures: float) -> Path:
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"set": {"n": 10, "n_groups": 2, **figures}}))
    return folder


def test_one_row_per_model_with_each_kind_of_proxy_from_its_own_evaluation(tmp_path: Path, capsys) -> None:
    covered = _summary(tmp_path / "cov", dice_present_mean=0.7, dice_present_ci_low=0.6,
                       dice_present_ci_high=0.8, dice_empty_mean=0.9, dice_empty_ci_low=0.85,
                       dice_empty_ci_high=0.95, mean_dice=0.8, presence_ece=0.03)
    zoomed = _summary(tmp_path / "zoom", dice_present_mean=0.7, dice_empty_mean=0.4, dice_empty_ci_low=0.3,
                      dice_empty_ci_high=0.5, mean_dice=0.55, presence_ece=0.2)
    out = tmp_path / "study.json"
    assert empty_study.main(["--model", "covered", str(covered), str(zoomed), "--json", str(out)]) == 0
    row = json.loads(out.read_text())[0]
    assert row["trained with"] == "covered"
    assert row["Dice, frames with a nerve (95% CI)"] == "0.700 (0.60-0.80)"
    assert row["covered proxies left empty (95% CI)"] == "0.900 (0.85-0.95)"
    assert row["zoomed proxies left empty (95% CI)"] == "0.400 (0.30-0.50)"
    assert row["presence ECE, covered"] == "0.030" and row["presence ECE, zoomed"] == "0.200"
    assert "| covered | 0.700 (0.60-0.80) |" in capsys.readouterr().out


def test_a_missing_figure_is_a_dash_and_a_missing_summary_a_clear_stop(tmp_path: Path) -> None:
    covered = _summary(tmp_path / "cov", dice_present_mean=0.7)
    zoomed = _summary(tmp_path / "zoom", presence_ece=float("nan"))
    row = empty_study.study_rows([("x", covered, zoomed)])[0]
    assert row["presence ECE, zoomed"] == "-" and row["zoomed proxies left empty (95% CI)"] == "-"
    with pytest.raises(SystemExit, match="no train.evaluate summary"):
        empty_study.study_rows([("x", covered, tmp_path / "absent")])
