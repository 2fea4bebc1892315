"""Architectures and the one registry that builds them by name.

Importing this package registers every architecture.
"""
from __future__ import annotations

from core.models import ensemble, modality, plain, screening, segnet, unet  # noqa: F401  (registration side effects)
from core.models.registry import (
    ModelSpec,
    UnknownModelError,
    create_model,
    get_spec,
    list_models,
    register_model,
)

__all__ = [
    "ModelSpec",
    "UnknownModelError",
    "create_model",
    "get_spec",
    "list_models",
    "register_model",
]
