"""Run configurations: what a training command was given, as a frozen dataclass the card records.

Each trainer's ``parse_args`` fills its configuration from the command line (argparse owns the
options and their help; a test checks its defaults equal the dataclass's), and the functions take
the configuration instead of an ``argparse.Namespace``.
"""
from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import torch

C = TypeVar("C", bound="RunConfig")


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Fields common to every run. ``argv``: the command line's tokens, recorded as the card's command."""

    argv: tuple[str, ...] = ()

    @classmethod
    def from_args(cls: type[C], ns: argparse.Namespace, argv: Sequence[str]) -> C:
        """The configuration of parsed options (every option a field) and the tokens they came from."""
        names = {f.name for f in fields(cls)}
        unknown = set(vars(ns)) - names
        if unknown:
            raise TypeError(f"{cls.__name__} has no field for option(s) {sorted(unknown)}")
        return cls(**vars(ns), argv=tuple(argv))

    def command(self, module: str) -> str:
        """The command line that made this configuration: ``python -m <module> ...``."""
        return f"python -m {module} " + shlex.join(self.argv)

    def to_json(self) -> dict[str, Any]:
        """The configuration as a card records it (paths as text, tuples as lists, without ``argv``)."""
        def plain(v: Any) -> Any:
            if isinstance(v, Path):
                return str(v)
            return [plain(x) for x in v] if isinstance(v, (list, tuple)) else v

        return {k: plain(v) for k, v in asdict(self).items() if k != "argv"}


def pick_device(name: str, amp: bool | None) -> tuple[torch.device, bool]:
    """The ``torch.device`` of a run's ``--device`` (``auto``: CUDA when there is one, else the CPU)
    and whether to train in bf16 mixed precision (``--amp``; None: on with CUDA)."""
    import torch

    device = torch.device("cuda" if name == "auto" and torch.cuda.is_available()
                          else ("cpu" if name == "auto" else name))
    return device, (device.type == "cuda" if amp is None else bool(amp))
