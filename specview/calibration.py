"""What a detector's scores mean on normal sound: quantiles of maps of held-out normal clips.

A detector's raw scores have no common unit (a patch distance, a Mahalanobis distance, a
feature-mismatch energy). Fitting keeps a few normal training clips aside, scores them after the
fit, and stores the distribution of their map cells and clip scores in the model file. From it:

* the **flag threshold** – the level above which a region is flagged, chosen without seeing any
  anomaly so that about ``flag_rate`` (5 %) of normal clips would show a flagged region: a
  Gumbel distribution (the law of maxima) is fitted by moments to the calibration clips' highest
  map cells, and the threshold is its ``1 - flag_rate`` quantile. A quantile of pooled cells
  would not do: hot cells cluster within clips, so even a 0.9999 cell quantile is exceeded
  somewhere in about half of normal clips;
* the **calibrated score** ``(map - median) / (threshold - median)``: 0 is a typical normal cell,
  1 is the flag threshold, on every clip and for every method, so colours can be compared.

Core module: numpy only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from specview.errors import ModelFileError, ParameterError

#: Quantiles of normal map cells stored in model files.
LEVELS = (0.5, 0.9, 0.99, 0.995, 0.999, 0.9999, 1.0)
#: Default share of normal clips allowed a flagged region.
DEFAULT_FLAG_RATE = 0.05
_EULER = 0.5772156649015329
#: Cells kept per calibration set (a uniform sample beyond this), so memory stays bounded.
MAX_CELLS = 2_000_000


@dataclass(frozen=True)
class Calibration:
    """Normal-score statistics of a fitted model.

    Attributes
    ----------
    levels, cell_quantiles : tuple of float
        Quantile levels and the normal map cells' values at them.
    clip_scores : tuple of float
        Clip scores of the calibration clips.
    clip_max : tuple of float
        Highest map cell of each calibration clip.
    n_clips : int
        Clips the statistics come from.
    held_out : bool
        True when those clips were kept out of the fit (unbiased); False when too few training
        clips existed and the fitted clips themselves were used (scores then read too low).
    flag_rate : float
        Share of normal clips the flag threshold lets show a flagged region.
    """

    levels: tuple[float, ...]
    cell_quantiles: tuple[float, ...]
    clip_scores: tuple[float, ...]
    clip_max: tuple[float, ...]
    n_clips: int
    held_out: bool
    flag_rate: float = DEFAULT_FLAG_RATE
    extras: dict = field(default_factory=dict)

    def quantile(self, q: float) -> float:
        """Normal-cell value at quantile ``q`` (interpolated between stored levels)."""
        if not 0.0 <= q <= 1.0:
            raise ParameterError(f"quantile {q!r} out of range; expected 0..1")
        return float(np.interp(q, self.levels, self.cell_quantiles))

    @property
    def median(self) -> float:
        return self.quantile(0.5)

    @property
    def threshold(self) -> float:
        """The flag threshold on the raw map scale: the ``1 - flag_rate`` quantile of a Gumbel
        law fitted to the clips' maxima (the highest normal cell when fewer than 3 clips)."""
        mx = np.asarray(self.clip_max, dtype=np.float64)
        if mx.size < 3:
            return float(self.cell_quantiles[-1])
        beta = float(mx.std(ddof=1)) * np.sqrt(6.0) / np.pi
        mu = float(mx.mean()) - _EULER * beta
        return float(mu - beta * np.log(-np.log(1.0 - self.flag_rate)))

    def with_flag_rate(self, rate: float) -> Calibration:
        if not 0.0 < rate < 1.0:
            raise ParameterError(f"flag rate {rate!r} out of range; expected 0 < rate < 1")
        return Calibration(self.levels, self.cell_quantiles, self.clip_scores, self.clip_max,
                           self.n_clips, self.held_out, float(rate), dict(self.extras))

    def calibrated(self, amap: np.ndarray) -> np.ndarray:
        """``(map - median) / (threshold - median)``: 0 typical normal, 1 the flag threshold."""
        lo, hi = self.median, self.threshold
        span = hi - lo if hi > lo else (abs(hi) or 1.0)
        return ((np.asarray(amap, dtype=np.float32) - lo) / span).astype(np.float32)

    def clip_percentile(self, score: float) -> float:
        """Fraction of calibration clips scoring below ``score`` (0..1)."""
        s = np.asarray(self.clip_scores)
        return float(np.mean(s < score)) if s.size else float("nan")

    def to_dict(self) -> dict:
        return {
            "levels": list(self.levels),
            "cell_quantiles": list(self.cell_quantiles),
            "clip_scores": list(self.clip_scores),
            "clip_max": list(self.clip_max),
            "n_clips": self.n_clips,
            "held_out": self.held_out,
            "flag_rate": self.flag_rate,
            "extras": dict(self.extras),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        try:
            levels = tuple(float(x) for x in d["levels"])
            values = tuple(float(x) for x in d["cell_quantiles"])
            if len(levels) != len(values) or len(levels) < 2 or list(levels) != sorted(levels):
                raise ValueError("levels and quantiles must be matching increasing lists")
            if any(np.diff(values) < 0) or not np.all(np.isfinite(values)):
                raise ValueError("quantiles must be finite and non-decreasing")
            rate = float(d.get("flag_rate", DEFAULT_FLAG_RATE))
            if not 0.0 < rate < 1.0:
                raise ValueError(f"flag_rate {rate} out of range")
            return cls(levels, values, tuple(float(x) for x in d.get("clip_scores", [])),
                       tuple(float(x) for x in d.get("clip_max", [])),
                       int(d["n_clips"]), bool(d["held_out"]), rate,
                       dict(d.get("extras", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"calibration block is damaged ({exc})") from None


def calibrate(
    maps: Iterable[np.ndarray],
    clip_scores: Sequence[float],
    *,
    held_out: bool,
    seed: int = 0,
    max_cells: int = MAX_CELLS,
) -> Calibration:
    """Statistics of normal maps (one 2-D array per calibration clip).

    Cells beyond ``max_cells`` in total are subsampled uniformly (a seeded reservoir), so a long
    calibration set does not grow memory.
    """
    rng = np.random.default_rng(seed)
    kept = np.empty(0, dtype=np.float32)
    maxima: list[float] = []
    keys = np.empty(0)  # one uniform key per cell ever seen; the largest max_cells are kept
    n = 0
    for m in maps:
        v = np.asarray(m, dtype=np.float32).ravel()
        if v.size == 0 or not np.all(np.isfinite(v)):
            raise ParameterError("calibration map is empty or holds non-finite values")
        n += 1
        maxima.append(float(v.max()))
        kept = np.concatenate([kept, v])
        keys = np.concatenate([keys, rng.random(v.size)])
        if kept.size > max_cells:
            top = np.argpartition(-keys, max_cells - 1)[:max_cells]
            kept, keys = kept[top], keys[top]
    if n == 0:
        raise ParameterError("no calibration maps given")
    q = np.quantile(kept.astype(np.float64), LEVELS)
    return Calibration(tuple(LEVELS), tuple(float(x) for x in np.maximum.accumulate(q)),
                       tuple(float(s) for s in clip_scores), tuple(maxima), n, held_out)
