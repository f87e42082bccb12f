"""The knobs of training (`TrainParams`) and their allowed values: plain data, cheap to import (the CLI shows them
as option defaults in `annotator train --help`), and apart so that the solvers take them without importing back."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from annotator.errors import TrainingError

LOSSES = ("squared", "softmax", "hinge")
WEIGHTINGS = ("eta", "idf", "none")
#: Share of region sets held out for testing, as in the BEDspace paper.
DEFAULT_TEST_FRACTION = 0.15


@dataclass(frozen=True)
class TrainParams:
    """Every knob of training; `to_dict()` is stored in the model's `training` record."""

    loss: str = "squared"
    dim: int | None = None  # None: one dimension per label (orthonormal label vectors)
    tokens_per_group: int | None = 30_000  # None: keep every token passing min_df
    min_df: int = 2
    weighting: str = "eta"
    weight_power: float = 1.0
    ridge: float = 1e-3
    epochs: int = 300
    lr: float = 0.05
    scale: float = 10.0  # softmax inverse temperature on cosines
    margin: float = 0.05  # hinge margin (StarSpace default)
    negatives: int = 5  # hinge negatives per set and epoch (StarSpace negSearchLimit)
    validation_fraction: float = 0.0
    patience: int = 30
    seed: int = 0
    dtype: str = "float16"

    def __post_init__(self) -> None:
        checks = [
            (self.loss in LOSSES, f"loss must be one of {LOSSES}, got {self.loss!r}"),
            (self.weighting in WEIGHTINGS, f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}"),
            (self.dtype in ("float16", "float32"), f"dtype must be float16 or float32, got {self.dtype!r}"),
            (self.dim is None or self.dim >= 1, f"dim must be positive, got {self.dim}"),
            (self.tokens_per_group is None or self.tokens_per_group >= 1, "tokens per group must be positive"),
            (min(self.min_df, self.epochs, self.negatives, self.patience) >= 1,
             "min_df, epochs, negatives and patience must be at least 1"),
            (self.ridge >= 0 and self.lr > 0 and self.scale > 0, "ridge must be >= 0, lr and scale > 0"),
            (0.0 <= self.validation_fraction < 0.5, f"validation fraction must be in [0, 0.5), got "
             f"{self.validation_fraction}"),
        ]  # fmt: skip
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise TrainingError("invalid training parameters: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
