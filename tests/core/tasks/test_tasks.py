"""core.tasks: one registry of tasks, each written once in its own module."""
from __future__ import annotations

import pytest

import core.roots
from core.datasets.fasseg import CLASSES as FASSEG_CLASSES
from core.face.region_net import BACKGROUND
from core.face.regions import REGION_NAMES
from core.tasks import TASKS, ScreeningRow, TaskSpec, get_task, register_task, task_names
from core.tasks.spec import _REGISTRY


def test_every_analysis_has_a_task_in_product_order() -> None:
    assert list(TASKS) == ["fetal_head", "nerve", "brain_tumor", "face_regions", "face_screening"]
    assert task_names(evaluable=True) == ["brain_tumor", "face_regions", "fetal_head", "nerve"]
    assert task_names(kind="classification") == ["face_screening"]


def test_an_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(KeyError, match="fetal_head.*nerve"):
        get_task("fetal")
    with pytest.raises(KeyError, match="skin, syndrome, autism"):
        get_task("face_screening").row("acne")


def test_the_registry_is_read_only_and_names_are_unique() -> None:
    with pytest.raises(TypeError):
        TASKS["x"] = get_task("nerve")  # type: ignore[index]
    with pytest.raises(ValueError, match="registered already"):
        register_task(get_task("nerve"))
    assert "x" not in _REGISTRY


def test_a_spec_checks_itself() -> None:
    with pytest.raises(ValueError, match="kind"):
        TaskSpec("x", "X", "detection", (), "", (), ("m",))
    row = get_task("face_screening").row("skin")
    with pytest.raises(ValueError, match="models must be the rows"):
        TaskSpec("x", "X", "classification", (), "", (), ("other",), rows={"skin": row})
    with pytest.raises(ValueError, match="every label"):
        ScreeningRow("r", "R", ("a", "b"), {"a": ()}, "", "")


def test_shipped_models_and_samples_are_where_the_tasks_say() -> None:
    for task in TASKS.values():
        assert task.samples_dir.is_dir(), task.name
        for model in task.models:
            assert (task.weights_dir(model) / "model.json").is_file(), (task.name, model)
        assert list(task.weights_dirs()) == list(task.models), task.name


def test_weights_dirs_lists_a_users_own_model_after_the_shipped_ones(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(core.roots, "WEIGHTS_ROOT", tmp_path)
    task = get_task("face_screening")
    for name in ("zeta", "autism", "skin"):
        (tmp_path / "face_screening" / name).mkdir(parents=True)
        (tmp_path / "face_screening" / name / "model.json").write_text("{}")
    (tmp_path / "face_screening" / "no_card").mkdir()
    assert list(task.weights_dirs()) == ["skin", "autism", "zeta"]
    assert task.weights_dir("skin") == tmp_path / "face_screening" / "skin"


def test_face_tasks_agree_with_the_face_modules() -> None:
    assert get_task("face_regions").labels == FASSEG_CLASSES and FASSEG_CLASSES[0] == BACKGROUND
    screening = get_task("face_screening")
    for row in screening.rows.values():
        assert set().union(*row.evidence_regions.values()) <= set(REGION_NAMES)
        assert sum(1 for r in row.evidence_regions.values() if not r) == 1, row.name  # one no-finding class
    assert [r.name for r in screening.rows.values() if r.warn] == ["autism"]
    assert "cannot diagnose autism" in screening.row("autism").caveat
