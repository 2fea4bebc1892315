"""Allowed data roots: the lab refuses folders outside them, including via ``..`` and symlinks."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from core.lab.paths import DatasetPathError, allowed_roots, dataset_fingerprint, resolve_dataset_path
from core.roots import SAMPLES_ROOT


@pytest.fixture()
def tree(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "data"
    (root / "hc18" / "training_set").mkdir(parents=True)
    (root / "hc18" / "training_set" / "000_HC.png").write_bytes(b"png")
    (root / "notes.txt").write_text("a file, not a folder")
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"x")
    return {"root": root, "outside": outside}


def test_allowed_roots_are_the_samples_and_data_root(tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    roots = allowed_roots({"DATA_ROOT": f"{a}{os.pathsep}{b}{os.pathsep}{a}{os.pathsep} "})
    assert roots == [SAMPLES_ROOT.resolve(), a.resolve(), b.resolve()]
    assert allowed_roots({}) == [SAMPLES_ROOT.resolve()]


def test_allowed_roots_read_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATA_ROOT", str(tmp_path))
    assert tmp_path.resolve() in allowed_roots()


def test_a_folder_inside_a_root_resolves(tree):
    root = tree["root"]
    assert resolve_dataset_path(str(root / "hc18"), [root]) == (root / "hc18").resolve()
    assert resolve_dataset_path("hc18", [root]) == (root / "hc18").resolve()  # relative: under the roots
    assert resolve_dataset_path(root / "hc18" / "training_set" / "..", [root]) == (root / "hc18").resolve()
    assert resolve_dataset_path("nerve") == (SAMPLES_ROOT / "nerve").resolve()  # default roots


def test_outside_the_roots_is_refused_and_the_roots_are_named(tree):
    root, outside = tree["root"], tree["outside"]
    with pytest.raises(DatasetPathError, match="outside the allowed data roots") as err:
        resolve_dataset_path(str(outside), [root])
    assert str(root.resolve()) in str(err.value) and "DATA_ROOT" in str(err.value)
    with pytest.raises(DatasetPathError, match="outside"):
        resolve_dataset_path(str(root / ".." / "private"), [root])
    with pytest.raises(DatasetPathError, match="outside"):
        resolve_dataset_path("../private", [root])
    with pytest.raises(DatasetPathError, match="outside"):
        resolve_dataset_path("/etc", [root])
    with pytest.raises(DatasetPathError, match="outside"):  # outside AND missing: no hint it is missing
        resolve_dataset_path(str(outside / "nope"), [root])


def test_a_symlink_inside_a_root_pointing_outside_is_refused(tree):
    root, outside = tree["root"], tree["outside"]
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(DatasetPathError, match="outside"):
        resolve_dataset_path(str(root / "link"), [root])
    (root / "hc18" / "training_set" / "001_HC.png").symlink_to(outside / "secret.png")
    with pytest.raises(DatasetPathError, match=r"symbolic link.*001_HC\.png"):
        resolve_dataset_path(str(root / "hc18"), [root])


def test_a_symlink_staying_inside_the_roots_is_fine(tree):
    root = tree["root"]
    (root / "alias").symlink_to(root / "hc18", target_is_directory=True)
    assert resolve_dataset_path(str(root / "alias"), [root]) == (root / "hc18").resolve()


def test_missing_file_and_empty_paths_are_refused(tree):
    root = tree["root"]
    with pytest.raises(DatasetPathError, match="no such folder"):
        resolve_dataset_path(str(root / "nope"), [root])
    with pytest.raises(DatasetPathError, match="is a file"):
        resolve_dataset_path(str(root / "notes.txt"), [root])
    with pytest.raises(DatasetPathError, match="type the path"):
        resolve_dataset_path("  ", [root])


@pytest.mark.parametrize("text, message", [("~nonexistentuser/data", "no such user"),
                                           ("a" * 5000, "characters long"),
                                           ("a" * 300, "not a usable folder path"),  # over NAME_MAX
                                           ("data\x00x", "NUL character")])
def test_odd_typed_paths_get_a_message_not_an_exception(tree, text, message):
    with pytest.raises(DatasetPathError, match=message):
        resolve_dataset_path(text, [tree["root"]])


def test_fingerprint_follows_names_sizes_and_times(tree):
    folder = tree["root"] / "hc18"
    first = dataset_fingerprint(folder)
    assert len(first) == 64 and dataset_fingerprint(folder) == first
    (folder / ".DS_Store").write_text("hidden files do not count")
    assert dataset_fingerprint(folder) == first
    frame = folder / "training_set" / "000_HC.png"
    frame.write_bytes(b"png2")  # size changes
    second = dataset_fingerprint(folder)
    assert second != first
    t = time.time() - 1000
    os.utime(frame, (t, t))  # same size, other mtime
    assert dataset_fingerprint(folder) != second
    (folder / "training_set" / "000_HC.png").rename(folder / "training_set" / "001_HC.png")
    assert dataset_fingerprint(folder) not in (first, second)
    with pytest.raises(DatasetPathError):
        dataset_fingerprint(folder / "missing")
