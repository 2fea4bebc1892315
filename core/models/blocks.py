"""Building blocks shared by our own architectures."""
from __future__ import annotations

import torch
from torch import nn


def conv_stack(cin: int, cout: int, n: int) -> nn.Sequential:
    """``n`` times 3x3 conv (no bias) -> BatchNorm -> ReLU; the first maps ``cin`` to ``cout``."""
    layers: list[nn.Module] = []
    for i in range(n):
        layers += [
            nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class PresenceHead(nn.Module):
    """Image-level "is the structure there?" logit from the deepest features (Bx1 out)."""

    def __init__(self, channels: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                nn.Linear(channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)
