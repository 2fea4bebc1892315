"""What the model lab reads of an LGG kaggle_3m folder: each patient's slices windowed together, as
training and ``train.evaluate`` feed the brain models (their 8-bit file values are not the models'
scale: the shipped model scored a Dice of 0 on them)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.datasets import detect_layout, read_cases, read_kaggle_3m
from core.datasets.kaggle_3m import read_kaggle_3m_windowed
from core.lab import models_read_window, slice_window
from core.tasks import get_task
from core.windowing import VOLUME_WINDOW, window_sequences
from tests.core.datasets.test_kaggle_3m import lgg, write_patient  # noqa: F401  (the fixture)


@pytest.mark.parametrize("window", ["volume_percentile", "volume_median"])
def test_each_patient_is_windowed_as_one_volume(lgg: Path, window: str) -> None:  # noqa: F811
    raw = list(read_kaggle_3m(lgg))
    got = list(read_kaggle_3m_windowed(lgg, window=window))
    assert [c.name for c in got] == [c.name for c in raw]
    for patient in ("TCGA_AA_0001_20000101", "TCGA_BB_0002_20000202"):
        mine = [i for i, c in enumerate(raw) if c.group == patient]
        want = window_sequences(np.stack([raw[i].image for i in mine]), window)
        for k, i in enumerate(mine):
            np.testing.assert_array_equal(got[i].image, want[k])
            assert got[i].meta["window"] == window and got[i].mask is not None
            np.testing.assert_array_equal(got[i].mask, raw[i].mask)


def test_a_named_slice_is_windowed_with_its_whole_patient(lgg: Path) -> None:  # noqa: F811
    every = {c.name: c for c in read_kaggle_3m_windowed(lgg)}
    one = list(read_kaggle_3m_windowed(lgg, names={"TCGA_AA_0001_20000101_3.tif"}))
    assert [c.name for c in one] == ["TCGA_AA_0001_20000101_3.tif"]
    np.testing.assert_array_equal(one[0].image, every["TCGA_AA_0001_20000101_3.tif"].image)
    assert list(read_kaggle_3m_windowed(lgg, names={"TCGA_ZZ_9_1.tif"})) == []


def test_the_lab_reads_the_task_window_and_offers_only_models_of_that_window(lgg: Path) -> None:  # noqa: F811
    (lgg / "kaggle_3m" / "TCGA_DD_0004_20020202").mkdir()  # an empty patient folder: skipped
    write_patient(lgg / "kaggle_3m", "TCGA_EE_0005_20030303", [1], no_mask=(1,))
    guess = detect_layout(lgg)
    window = slice_window(guess)
    assert window == VOLUME_WINDOW == get_task("brain_tumor").input["window"]
    cases = list(read_cases(guess))
    assert len(cases) == 8 and {c.meta["window"] for c in cases} == {window}

    from dataclasses import replace

    from core.weights import read_card

    shipped = read_card(get_task("brain_tumor").weights_dir("unet"))

    def Card(w: str) -> object:  # noqa: N802  (a card that names window w)
        return replace(shipped, input={**shipped.input, "window": w})

    other = "volume_median" if window == "volume_percentile" else "volume_percentile"
    cards = {"same": Card(window), "other": Card(other)}
    assert list(models_read_window(cards, window)) == ["same"]
    assert list(models_read_window(cards, None)) == ["same", "other"]


def test_the_shipped_brain_cards_read_volumes_through_the_readers_window() -> None:
    from core.weights import read_card

    task = get_task("brain_tumor")
    for name in task.models:
        assert read_card(task.weights_dir(name)).input["window"] == VOLUME_WINDOW, name
