"""The dependency direction dashboard -> core <- train, and no unpickling anywhere.

Checked on the source text (``ast``), so a forbidden import is caught even in a function body
that no other test happens to run.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _py_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _dynamic_import_target(call: ast.Call) -> str | None:
    """The module name of ``importlib.import_module("x")`` / ``__import__("x")``, else None."""
    func = getattr(call.func, "id", getattr(call.func, "attr", None))
    if func in ("import_module", "__import__") and call.args:
        arg = call.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
    return None


def imported_modules(source: str) -> set[str]:
    """Top-level names of every module imported anywhere in ``source`` (absolute imports)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and _dynamic_import_target(node):
            names.add(_dynamic_import_target(node).split(".")[0])
    return names


def unsafe_torch_loads(source: str) -> list[int]:
    """Line numbers of ``torch.load(...)`` calls without ``weights_only=True``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"):
            safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                       for k in node.keywords)
            if not safe:
                lines.append(node.lineno)
    return lines


_TORCH_LOAD = re.compile(r"torch\.load\((?:[^()]|\([^()]*\))*\)")
_TORCH_LOAD_OPEN = re.compile(r"torch\.load\(")


def unsafe_torch_loads_text(text: str) -> list[int]:
    """Line numbers of ``torch.load(`` in the text whose call lacks ``weights_only=True``.

    Catches what the AST check cannot (``from torch import load`` aside): any spelling of the
    call in code, wherever it sits. A ``torch.load(`` whose parentheses cannot be matched counts.
    """
    out = []
    for m in _TORCH_LOAD_OPEN.finditer(text):
        call = _TORCH_LOAD.match(text, m.start())
        if call is None or not re.search(r"weights_only\s*=\s*True\b", call.group()):
            out.append(text.count("\n", 0, m.start()) + 1)
    return out


# ---------------------------------------------------------------- the checkers themselves


def test_import_checker_sees_every_form():
    src = (
        "import streamlit as st\n"
        "from dashboard.widgets import x\n"
        "def f():\n    import train.segmentation\n"
        "import importlib\nimportlib.import_module('plotly.express')\n"
        "from . import sibling\n"
    )
    assert imported_modules(src) == {"streamlit", "dashboard", "train", "importlib", "plotly"}


def test_torch_load_checker():
    src = (
        "import torch\n"
        "a = torch.load(p, weights_only=True)\n"
        "b = torch.load(p)\n"
        "c = torch.load(\n    p,\n    weights_only=False,\n)\n"
        "d = torch.load(p, map_location='cpu', weights_only=True)\n"
    )
    assert unsafe_torch_loads(src) == [3, 4]
    assert unsafe_torch_loads_text(src) == [3, 4]
    assert unsafe_torch_loads_text("x = torch.load(open(p, 'rb'), weights_only=True)") == []
    assert unsafe_torch_loads_text("x = torch.load(open(p, 'rb'))") == [1]


# ---------------------------------------------------------------- the rules


def test_the_walk_finds_the_packages():
    core = {p.relative_to(ROOT).as_posix() for p in _py_files("core")}
    assert {"core/__init__.py", "core/predict/segmenter.py", "core/models/registry.py"} <= core
    assert _py_files("dashboard") and _py_files("train")


@pytest.mark.parametrize("path", _py_files("core"), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_core_imports_neither_streamlit_nor_dashboard(path):
    bad = imported_modules(path.read_text(encoding="utf-8")) & {"streamlit", "dashboard", "train"}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}; core must stay UI- and train-free"


@pytest.mark.parametrize("path", _py_files("dashboard"), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_dashboard_does_not_import_train(path):
    assert "train" not in imported_modules(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", _py_files("train"), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_train_does_not_import_dashboard(path):
    bad = imported_modules(path.read_text(encoding="utf-8")) & {"dashboard", "streamlit"}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_no_unpickling_torch_load():
    files = [*_py_files("core"), *_py_files("dashboard"), *_py_files("train"), ROOT / "streamlit_app.py"]
    offenders = []
    for path in filter(Path.is_file, files):
        text = path.read_text(encoding="utf-8")
        lines = sorted(set(unsafe_torch_loads(text)) | set(unsafe_torch_loads_text(text)))
        offenders += [f"{path.relative_to(ROOT)}:{line}" for line in lines]
    assert not offenders, f"torch.load without weights_only=True (weights are safetensors): {offenders}"


def test_core_imports_without_streamlit():
    code = (
        "import core.predict, core.analysis.fetal_head, core.explain, core.weights, core.overlay, sys; "
        "bad = sorted(m for m in ('streamlit', 'dashboard', 'train') if m in sys.modules); "
        "assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


# ---------------------------------------------------------------- the structure of core/

CORE = ROOT / "core"
# Layers of core/, lowest first. A module may import its own layer and those below, never above:
# generic pieces know no task, task modules know no application (the lab, the evaluation engine).
LAYERS = {
    "generic": ("core/__init__.py", "core/roots.py", "core/io", "core/datasets", "core/metrics",
                "core/geometry.py", "core/models", "core/weights.py", "core/predict", "core/explain",
                "core/overlay.py", "core/rle.py", "core/volume_view.py", "core/windowing.py"),
    "task": ("core/analysis", "core/face", "core/tasks"),
    "application": ("core/evaluation", "core/lab", "core/report.py"),
}
RANK = {name: k for k, name in enumerate(LAYERS)}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(path: Path) -> str:
    rel = path.relative_to(ROOT).as_posix()
    hits = [name for name, places in LAYERS.items() for p in places if rel == p or rel.startswith(p + "/")]
    assert len(hits) == 1, f"{rel} belongs to {hits or 'no layer'}: add it to LAYERS"
    return hits[0]


CORE_MODULES = {module_name(p): p for p in _py_files("core")}


def core_imports(path: Path) -> set[str]:
    """The core modules ``path`` imports anywhere in it (module or function level), resolved to
    modules that exist: ``from core.x import y`` is ``core.x.y`` when that is a module, else ``core.x``."""
    out: set[str] = set()
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in CORE_MODULES else base for a in node.names]
        else:
            continue
        out |= {t for t in targets if t in CORE_MODULES}
    out.discard(module_name(path))
    return out


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_core_has_no_import_cycle() -> None:
    graph = {name: core_imports(path) for name, path in CORE_MODULES.items()}
    assert import_cycles(graph) == []


@pytest.mark.parametrize("path", _py_files("core"), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_core_layers_import_only_their_own_or_lower_layers(path: Path) -> None:
    mine = RANK[layer_of(path)]
    above = sorted(m for m in core_imports(path) if RANK[layer_of(CORE_MODULES[m])] > mine)
    assert not above, (f"{path.relative_to(ROOT)} ({layer_of(path)} layer) imports {above}: a generic "
                       "piece must not know a task, a task module must not know the lab or the engine")


# Helpers the phantom generators share with the trainers (image and face-photo tools, no training).
PHANTOM_MAY_IMPORT = ("train.phantoms", "train.face_augment", "train.face_shape", "train.face_pixels",
                      "train.face_sources")


@pytest.mark.parametrize("path", _py_files("train/phantoms"), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_phantom_generators_import_no_trainer(path: Path) -> None:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    bad = sorted(n for n in names if n.split(".")[0] == "train"
                 and not any(n == ok or n.startswith(ok + ".") for ok in PHANTOM_MAY_IMPORT))
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: phantom generators must not import trainers"
