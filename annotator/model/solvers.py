"""Loss solvers for `annotator.model.train`: the closed-form ridge fit and the Adam loop for softmax and hinge.

They work on a group's normalised set x set kernel `kn` and fixed label frame; see `annotator.model.train` for the
parameterisation they fit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from annotator.model.rows import mean_reciprocal_rank, true_ranks, unit_rows
from annotator.progress import Progress

if TYPE_CHECKING:
    from annotator.model.params import TrainParams

#: Ridge penalties tried when a validation split is given (the first of equal MRRs wins).
RIDGE_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def val_mrr(a: np.ndarray, frame: np.ndarray, val: tuple[np.ndarray, np.ndarray]) -> float:
    """Validation MRR of per-row vectors `a` (validation kernel rows @ a = validation set vectors)."""
    return mean_reciprocal_rank(true_ranks(unit_rows(val[0] @ a) @ frame.T, val[1]))


Validation = tuple[np.ndarray, np.ndarray] | None  # (validation x training kernel, validation labels)


def solve_squared(
    kn: np.ndarray, y: np.ndarray, frame: np.ndarray, params: TrainParams, val: Validation, title: str,
    progress: Progress,
) -> tuple[np.ndarray, dict[str, Any]]:  # fmt: skip
    """Ridge regression of set vectors onto label vectors; with validation, the ridge is picked by MRR."""
    targets = frame[y]
    grid = RIDGE_GRID if val is not None else (params.ridge,)
    fits, history = [], []
    with progress.task(title, total=len(grid)) as task:
        for ridge in grid:
            a = np.linalg.solve(kn + ridge * np.eye(kn.shape[0]), targets)
            entry = {"ridge": ridge, "loss": round(float(np.mean(np.sum((kn @ a - targets) ** 2, axis=1))), 6)}
            if val is not None:
                entry["val_mrr"] = round(val_mrr(a, frame, val), 4)
            fits.append(a)
            history.append(entry)
            task.advance(**{k: v for k, v in entry.items() if k != "ridge"})
    best = int(np.argmax([h.get("val_mrr", 0.0) for h in history]))  # first of equals: the weakest penalty
    info = {"ridge": grid[best], "loss": history[best]["loss"], "history": history}
    return fits[best], info | ({"validation_mrr": history[best]["val_mrr"]} if val is not None else {})


def solve_iterative(
    kn: np.ndarray, y: np.ndarray, frame: np.ndarray, params: TrainParams, val: Validation, title: str,
    progress: Progress,
) -> tuple[np.ndarray, dict[str, Any]]:  # fmt: skip
    """Softmax or sampled-negative hinge on cosines: full-batch Adam in the whitened kernel basis.

    With kn = U diag(e) U^T, set vectors are phi @ b (phi = U sqrt(e)) and the ridge penalty on the token vectors
    is |b|², so every direction learns at the same pace; a = U diag(e)^-1/2 @ b maps back to per-set vectors.
    """
    evals, evecs = np.linalg.eigh(kn)
    keep = evals > 1e-10 * max(float(evals.max()), 1e-300)
    phi, to_a = evecs[:, keep] * np.sqrt(evals[keep]), evecs[:, keep] / np.sqrt(evals[keep])
    rng = np.random.default_rng(params.seed)
    n, rows = kn.shape[0], np.arange(kn.shape[0])
    b = rng.normal(0.0, 1e-3, (phi.shape[1], frame.shape[1]))
    m1, m2 = np.zeros_like(b), np.zeros_like(b)
    history: list[dict[str, Any]] = []
    best, since_best = (-1.0, 0, b), 0
    with progress.task(title, total=params.epochs) as task:
        for epoch in range(1, params.epochs + 1):
            z = phi @ b
            length = np.linalg.norm(z, axis=1, keepdims=True) + 1e-12
            unit = z / length
            cos = unit @ frame.T
            if params.loss == "softmax":
                logits = params.scale * (cos - cos.max(axis=1, keepdims=True))
                prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
                loss = float(-np.mean(np.log(prob[rows, y] + 1e-300)))
                prob[rows, y] -= 1.0
                dcos = prob * (params.scale / n)
            else:
                loss, dcos = hinge_loss(cos, y, params, rng)
            dz = dcos @ frame
            grad = phi.T @ ((dz - unit * np.sum(dz * unit, axis=1, keepdims=True)) / length) + 2 * params.ridge * b
            m1, m2 = 0.9 * m1 + 0.1 * grad, 0.999 * m2 + 0.001 * grad * grad
            step = params.lr * (1.0 - (epoch - 1) / params.epochs)  # decays linearly to ~0, as in StarSpace
            b = b - step * (m1 / (1 - 0.9**epoch)) / (np.sqrt(m2 / (1 - 0.999**epoch)) + 1e-8)
            entry: dict[str, Any] = {"epoch": epoch, "loss": round(loss + params.ridge * float(np.sum(b * b)), 6)}
            if val is not None:
                entry["val_mrr"] = round(val_mrr(to_a @ b, frame, val), 4)
                best, since_best = (
                    ((entry["val_mrr"], epoch, b), 0) if entry["val_mrr"] > best[0] else (best, since_best + 1)
                )
            history.append(entry)
            task.advance(**{k: v for k, v in entry.items() if k != "epoch"})
            if val is not None and since_best >= params.patience:
                break
    if val is None:
        return to_a @ b, {"epochs": params.epochs, "loss": history[-1]["loss"], "history": history}
    return to_a @ best[2], {"epochs": best[1], "validation_mrr": best[0], "history": history}


def hinge_loss(
    cos: np.ndarray, y: np.ndarray, params: TrainParams, rng: np.random.Generator
) -> tuple[float, np.ndarray]:
    """StarSpace's loss: sum over sampled negatives (never the set's own label) of max(0, margin - pos + neg)."""
    n, c = cos.shape
    rows = np.arange(n)
    negatives = rng.integers(0, c - 1, (n, params.negatives))
    negatives += negatives >= y[:, None]  # skip the positive label
    pos = cos[rows, y][:, None]
    violation = params.margin - pos + cos[rows[:, None], negatives]
    active = violation > 0
    dcos = np.zeros_like(cos)
    np.add.at(dcos, (np.repeat(rows, params.negatives), negatives.ravel()), active.ravel() / n)
    dcos[rows, y] -= active.sum(axis=1) / n
    return float(np.sum(violation[active]) / n), dcos
