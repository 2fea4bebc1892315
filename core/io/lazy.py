"""Import a heavy library on its first use, not when the module that names it is imported.

nibabel (with the pydicom it pulls in) takes about 0.2 s to import, and every page imports the
volume readers through the dataset registry, while only the brain page's NIfTI / DICOM paths use
it. ``nib = lazy_module("nibabel")`` gives a stand-in whose first attribute read imports the
library. The stand-in is deliberately NOT put in ``sys.modules`` (the standard library's
``LazyLoader`` does that): code that walks every loaded module, as ``inspect.getmodule`` does
while torch imports, would read an attribute and import the library anyway.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """A module imported when one of its attributes is first read."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:  # only called for names this object does not have
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)  # copy/pickle/inspect probes must not import the library
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    @property
    def loaded(self) -> bool:
        return self._module is not None

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}{'' if self._module is None else ' (imported)'}>"


def lazy_module(name: str) -> Any:
    """A stand-in for ``import name`` that imports it when an attribute is first read."""
    return LazyModule(name)
