"""One registry and one factory for every architecture the product knows.

An architecture registers a builder with :func:`register_model`; everything else (the weights
loader, the trainer, the model lab) builds models by name with :func:`create_model`.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from torch import nn

CamLayerFn = Callable[[nn.Module], nn.Module]


class UnknownModelError(KeyError):
    """A model name that is not registered; the message lists the registered names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture.

    Attributes:
        name: registry name, e.g. ``"unet"``.
        kind: ``"segmentation"`` or ``"classification"``.
        builder: callable returning a fresh, randomly initialised ``nn.Module``.
        cam_layer: picks the layer Grad-CAM should hook in a built model.
        description: one line for people (shown on the Home page).
        defaults: default builder arguments, merged under the caller's.
    """

    name: str
    kind: str
    builder: Callable[..., nn.Module]
    cam_layer: CamLayerFn
    description: str
    defaults: Mapping[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str, *, kind: str, cam_layer: CamLayerFn, description: str, **defaults: Any
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering ``builder`` under ``name``."""

    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelSpec(
            name, kind, builder, cam_layer, description, MappingProxyType(dict(defaults))
        )
        return builder

    return wrap


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered as ``name``.

    Raises:
        UnknownModelError: listing the valid names.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise UnknownModelError(f"unknown model {name!r}; registered models: {valid}") from None


def create_model(name: str, **cfg: Any) -> nn.Module:
    """Build a fresh model by registry name; ``cfg`` overrides the registered defaults."""
    spec = get_spec(name)
    return spec.builder(**{**spec.defaults, **cfg})


def list_models(kind: str | None = None) -> list[str]:
    """Registered model names, optionally only those of one ``kind``."""
    return sorted(n for n, s in _REGISTRY.items() if kind is None or s.kind == kind)
