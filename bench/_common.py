"""Small metric helpers shared by the benchmark scripts (the evaluator proper comes later)."""

from __future__ import annotations

import numpy as np


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()
    return float(wins / (len(pos) * len(neg)))


def peak_in_box(result, boxes) -> bool:
    r, c = np.unravel_index(int(np.argmax(result.map)), result.map.shape)
    t, f = result.times[c], result.freqs[r]
    return any(b.t0 <= t <= b.t1 and b.f0 <= f <= b.f1 for b in boxes)


def box_mask(result, boxes) -> np.ndarray:
    t, f = result.times[None, :], result.freqs[:, None]
    m = np.zeros(result.map.shape, dtype=bool)
    for b in boxes:
        m |= (t >= b.t0) & (t <= b.t1) & (f >= b.f0) & (f <= b.f1)
    return m


def pixel_auroc(maps: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """Spectrogram-level ROC-AUC of the map against box masks, pooled over clips (rank form)."""
    from scipy.stats import rankdata

    s = np.concatenate([m.ravel() for m in maps])
    y = np.concatenate([k.ravel() for k in masks])
    r = rankdata(s)
    n1, n0 = y.sum(), (~y).sum()
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
