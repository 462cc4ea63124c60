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
  1 is the flag threshold, on every clip and for every method, so colours can be compared;
* a **row profile** (:class:`RowProfile`): each frequency row's normal level and the typical
  height of its per-clip maximum. Rows differ on normal sound for reasons that have nothing to
  do with anomalies: the lowest mel bands of a 2048-point STFT sum two or three FFT bins and
  fluctuate far more than the wide upper bands, and the network's zero padding at the lowest and
  highest bands changes the features there. Raw maps therefore peak on the frequency edges of
  normal clips (issue 12 measured every normal clip's maximum on the grid's border, 4.4x the
  border's share of cells). Dividing each row by its own normal spread puts every row on one
  scale, so a normal clip's maximum falls on any row alike and an event is measured against
  what is normal in its own band. The threshold and quantiles are those of the profiled maps.

Core module: numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from specview.errors import ModelFileError, ParameterError
from specview.metrics.regions import RELATIVE_LEVEL

#: Quantiles of normal map cells stored in model files.
LEVELS = (0.5, 0.9, 0.99, 0.995, 0.999, 0.9999, 1.0)
#: Default share of normal clips allowed a flagged region.
DEFAULT_FLAG_RATE = 0.05
_EULER = 0.5772156649015329
#: Cells kept per calibration set (a uniform sample beyond this), so memory stays bounded.
MAX_CELLS = 2_000_000
#: Length of the blocks whose maxima calibrate the threshold of long recordings (seconds).
BLOCK_SECONDS = 1.0


def block_maxima(maps: Sequence[np.ndarray], *, frames_per_block: int,
                 edge_frames: int = 0) -> list[float]:
    """The highest cell of each whole block of ``frames_per_block`` frames of each map's
    interior (``edge_frames`` left out at both ends of maps of at least ``3 * edge_frames``
    frames), in order."""
    out: list[float] = []
    k = max(1, int(frames_per_block))
    for m in maps:
        a = np.asarray(m)
        e = edge_frames if a.shape[1] >= 3 * edge_frames else 0
        inner = a[:, e:a.shape[1] - e]
        n = inner.shape[1] // k
        if n:
            out += [float(x) for x in inner[:, :n * k].reshape(a.shape[0], n, k).max(axis=(0, 2))]
    return out


@dataclass(frozen=True)
class RowProfile:
    """Per-row and clip-edge standardisation of a detector's raw map, learned on normal maps.

    ``profiled = (map - loc[row]) / scale[row]``, where ``loc`` is the row's median normal
    value and ``scale`` the height of its upper tail above it (the 95th percentile of the row's
    interior cells minus the median), each at least the typical (median) row's. Then the frame ``d`` frames from either end of the
    recording is divided by ``edge[d]``: how much higher normal maps run there than inside the
    clip (the STFT's first and last frames and whatever the network makes of a clip's ends;
    1 where they do not).
    """

    loc: tuple[float, ...]
    scale: tuple[float, ...]
    edge: tuple[float, ...] = ()
    #: Each row's normal ceiling of mel power on the same clips (the 99th percentile of its
    #: cells), for :meth:`excess_power`: which band a flagged region's sound adds energy to.
    power_ceiling: tuple[float, ...] = ()
    #: Gain of the energy focus (:meth:`focus`); 0 (model files from before it): none.
    focus_gain: float = 0.0
    #: The focus's neighbourhood, ``(rows, frames)`` of the map (odd).
    focus_size: tuple[int, int] = (1, 1)
    #: The focus reaches every band of its frames, not only ``focus_size[0]`` rows: the cell
    #: adding the most energy there gains the most. False (the default of new fits, and model
    #: files from before it): local. Measured, not adopted: ``bench/bench_focus.py --reach``.
    focus_across: bool = False
    #: Frames whose neighbourhood's map (the detector's own, profiled) reaches this level also
    #: get the focus across every band, on top of the local one: the flag threshold the model
    #: was fitted with. None (model files from before it): never. Ignored with ``focus_across``.
    across_level: float | None = None

    def focus(self, amap: np.ndarray, excess: np.ndarray | None) -> np.ndarray:
        """The profiled map ``amap`` re-focused on the sound that exceeds its normal level.

        A detector's map is as coarse as the encoder's features (aisfx: a cell is 8 mel bands x
        8 frames), then upsampled and smoothed, so over an event it is a broad, nearly flat
        hill whose top can lie a few bands beside the sound that raised it (a 425 Hz tone
        peaked at 588 Hz). Each cell gains up to ``focus_gain`` times the highest map value of
        its neighbourhood (``focus_size``: a feature cell either way in frequency, half of one
        in time), in proportion to ``excess``, the mel power there above the row's normal
        ceiling (:meth:`excess_power`): ``g = 1 - exp(-excess / (10 * median ceiling))``, 0
        without excess. With ``focus_across`` the neighbourhood is every band of those frames
        and ``g = (excess / top excess) * (1 - exp(-top excess / (10 * median ceiling)))``, the
        top excess being the neighbourhood's: the band adding the most energy takes the
        frames' highest value, wherever the detector's hill lies (a knock's energy in
        200-2000 Hz on a loud power station, its hill above 2 kHz where the station is
        quiet). With ``across_level`` (and the local focus), frames whose neighbourhood's map
        reaches that level gain that across term as well, each such frame's top then
        compressed back to its local maximum (:meth:`_focus_flagged`: frame maxima and the
        clip score stay the local focus's), so a flagged event's peak moves to its energy
        while normal sound, under the flag threshold nearly everywhere, keeps the local focus
        alone (across everywhere, its loud low bands' fluctuations took the frames' tops onto
        the grid's border). So the map's peak moves to where the event's energy is; a normal
        clip (its cells under their 99th percentile but for 1 %) and an anomaly that removes
        sound are left almost as they were. Unchanged without the statistics, with a gain of
        0, or for another grid.
        """
        a = np.asarray(amap, dtype=np.float32)
        if not self.focus_gain or not self.power_ceiling:
            return a
        if excess is None or excess.shape != a.shape:
            return a
        from scipy.ndimage import maximum_filter, maximum_filter1d

        ref = 10.0 * float(np.median(self.power_ceiling))
        if not ref > 0:
            return a
        e = excess.astype(np.float64)
        k = self.focus_size[1]

        def across() -> tuple[np.ndarray, np.ndarray]:
            m = maximum_filter1d(e.max(axis=0), size=k, mode="nearest")[None, :]
            top = np.maximum(maximum_filter1d(a.max(axis=0), size=k, mode="nearest"), 0.0)[None, :]
            return top, np.divide(e, m, out=np.zeros_like(e), where=m > 0) * -np.expm1(-m / ref)

        if self.focus_across:
            top, g = across()
            gain = top * g
        else:
            top = np.maximum(maximum_filter(a, size=self.focus_size, mode="nearest"), 0.0)
            gain = top * -np.expm1(-e / ref)
            if self.across_level is not None:
                return self._focus_flagged(a + self.focus_gain * gain, *across())
        return np.ascontiguousarray(a + self.focus_gain * gain, dtype=np.float32)

    def _focus_flagged(self, local: np.ndarray, top: np.ndarray, g: np.ndarray) -> np.ndarray:
        """The local focus ``local``, and in the frames whose neighbourhood's map ``top``
        reaches :attr:`across_level` the across term ``g`` on top, each such frame's values
        above a knee then compressed linearly so that its highest is the local focus's again:
        the band adding the most energy takes the frame's peak, while every frame's maximum,
        so the clip score and the frame scores, stay those of the local focus. The knee is the
        level itself (values under it, normal cells' range, are left as they are) or, in a
        frame whose own local maximum does not pass it, that frame's lowest value. Added
        without the compression, the term made the clip score jump where a frame crossed the
        level, and a normal clip just over it outranked an anomaly just under it."""
        out = local.astype(np.float64)
        on = top[0] >= self.across_level
        if on.any():
            both = out[:, on] + self.focus_gain * top[:, on] * g[:, on]
            hi, peak = out[:, on].max(axis=0), both.max(axis=0)
            knee = np.where(hi > self.across_level, self.across_level, out[:, on].min(axis=0))
            span = peak - knee
            scale = np.divide(hi - knee, span, out=np.ones_like(span), where=span > 0)
            out[:, on] = np.where(both > knee, knee + (both - knee) * scale, both)
        return np.ascontiguousarray(out, dtype=np.float32)

    def excess_power(self, power: np.ndarray) -> np.ndarray | None:
        """Mel power above the row's normal ceiling, per cell (0 where below): energy that normal
        sound's fluctuations do not reach there. None without the statistics or for another
        number of rows."""
        if not self.power_ceiling or np.shape(power)[0] != len(self.power_ceiling):
            return None
        mean = np.asarray(self.power_ceiling, dtype=np.float64)[:, None]
        return np.ascontiguousarray(np.maximum(np.asarray(power, dtype=np.float64) - mean, 0.0),
                                    dtype=np.float32)

    def apply(self, amap: np.ndarray, *, offset: int = 0, total: int | None = None) -> np.ndarray:
        """The profiled map of ``amap``.

        ``amap`` may be a piece of a longer recording's map: its columns are frames
        ``offset : offset + n`` of a map of ``total`` frames (default: the whole map), so
        the edge factors reach only the recording's own first and last frames. The pieces of
        a map, profiled one by one, equal the whole map profiled at once.
        """
        a = np.asarray(amap, dtype=np.float32)
        if a.ndim != 2 or a.shape[0] != len(self.loc):
            raise ModelFileError(
                f"the model's row profile has {len(self.loc)} rows but the map {a.shape[0]}: "
                "it was fitted with another front end")
        loc = np.asarray(self.loc, dtype=np.float32)[:, None]
        scale = np.asarray(self.scale, dtype=np.float32)[:, None]
        z = (a - loc) / scale
        total = a.shape[1] if total is None else int(total)
        n = min(len(self.edge), total // 2)
        if n:
            g = np.asarray(self.edge[:n], dtype=np.float32)
            cols = np.arange(offset, offset + a.shape[1])
            head = cols < n
            if head.any():
                z[:, head] /= g[cols[head]]
            tail = cols >= total - n
            if tail.any():
                z[:, tail] /= g[total - 1 - cols[tail]]
        return np.ascontiguousarray(z, dtype=np.float32)

    def to_dict(self) -> dict:
        return {"loc": list(self.loc), "scale": list(self.scale), "edge": list(self.edge),
                "power_ceiling": list(self.power_ceiling), "focus_gain": self.focus_gain,
                "focus_size": list(self.focus_size), "focus_across": self.focus_across,
                **({} if self.across_level is None else {"across_level": self.across_level})}

    @classmethod
    def from_dict(cls, d: dict) -> RowProfile:
        loc = tuple(float(x) for x in d["loc"])
        scale = tuple(float(x) for x in d["scale"])
        edge = tuple(float(x) for x in d.get("edge", ()))
        if len(loc) != len(scale) or not loc:
            raise ValueError("row profile: loc and scale must be lists of one value per row")
        if not (np.all(np.isfinite(loc)) and np.all(np.isfinite(scale)) and min(scale) > 0):
            raise ValueError("row profile: values must be finite, scales > 0")
        if edge and not (np.all(np.isfinite(edge)) and min(edge) > 0):
            raise ValueError("row profile: edge factors must be finite and > 0")
        pm = tuple(float(x) for x in d.get("power_ceiling", ()))
        if pm and not (len(pm) == len(loc) and np.all(np.isfinite(pm)) and min(pm) >= 0):
            raise ValueError("row profile: power_ceiling must be one finite value >= 0 per row")
        gain = float(d.get("focus_gain", 0.0))
        size = tuple(int(x) for x in d.get("focus_size", (1, 1)))
        if not (math.isfinite(gain) and gain >= 0):
            raise ValueError("row profile: focus_gain must be a finite number >= 0")
        if len(size) != 2 or min(size) < 1:
            raise ValueError("row profile: focus_size must be two sizes >= 1")
        across = d.get("focus_across", False)
        if not isinstance(across, bool):
            raise ValueError("row profile: focus_across must be true or false")
        level = d.get("across_level")
        if level is not None:
            if isinstance(level, bool) or not isinstance(level, (int, float)) \
                    or not math.isfinite(level):
                raise ValueError("row profile: across_level must be a finite number or absent")
            level = float(level)
        return cls(loc, scale, edge, pm, gain, (size[0], size[1]), across, level)


def power_ceiling(powers: Sequence[np.ndarray], *, q: float = 0.99) -> tuple[float, ...]:
    """Each row's ``q`` quantile of mel power over every frame of normal clips' power
    spectrograms."""
    v = np.concatenate([np.asarray(x, dtype=np.float64) for x in powers], axis=1)
    return tuple(float(x) for x in np.quantile(v, q, axis=1))


def fit_row_profile(
    maps: Sequence[np.ndarray], *, edge_frames: int = 0, rows_smoothing: int = 5,
    tail: float = 0.95,
) -> RowProfile:
    """The :class:`RowProfile` of normal maps ``(n_rows, n_time_i)`` (one per clip).

    Rows are measured on the clips' interior (``edge_frames`` frames left out at each end of
    clips of at least ``3 * edge_frames`` frames; only those clips give edge factors).
    Location: the row's median. Scale: its ``tail`` quantile minus the median, averaged over
    ``rows_smoothing`` neighbouring rows. Both are one-sided: never below the median row's
    (rows above typical are brought down to it; quieter rows, a silent one included, keep the
    common scale). The 95th percentile, not a higher one: a small
    training set holds out 2 clips, about 260 correlated cells per row, whose 99th percentile
    is too noisy (it pulled the demo's map peaks to the rows it underestimated). Edge factors:
    for each of the first ``edge_frames`` offsets from an end, the mean over clips and both
    ends of the profiled frame's highest cell, over the same mean for interior frames; smoothed
    over 3 offsets, never below 1.
    """
    from scipy.ndimage import uniform_filter1d

    arrs = [np.asarray(m, dtype=np.float64) for m in maps]
    if not arrs:
        raise ParameterError("no maps to learn a row profile from")
    n_rows = arrs[0].shape[0]
    if any(a.ndim != 2 or a.shape[0] != n_rows or a.shape[1] < 1 for a in arrs):
        raise ParameterError("row profile maps must all be 2-D with the same number of rows")
    if not all(np.all(np.isfinite(a)) for a in arrs):
        raise ParameterError("row profile maps hold non-finite values")
    e = max(0, int(edge_frames))
    inner = [a[:, e:a.shape[1] - e] if a.shape[1] >= 3 * e else a for a in arrs]
    cells = np.concatenate(inner, axis=1)
    loc = np.median(cells, axis=1)
    scale = np.quantile(cells, tail, axis=1) - loc
    if rows_smoothing > 1:
        scale = uniform_filter1d(scale, rows_smoothing, mode="nearest")
    # one-sided: a row higher or noisier than the typical row is brought down to it, a quieter
    # one stays on the common scale. Dividing a quiet row by its own small spread made it
    # hypersensitive to the spill of an event elsewhere (real engine benchmark, PatchCore: map
    # peak inside the event 0.95 -> 0.63 with a two-sided profile, 0.95 with this one)
    loc = np.maximum(loc, float(np.median(loc)))
    typical = float(np.median(scale))
    scale = np.maximum(scale, typical if typical > 0 else (float(scale.max()) or 1.0))
    profile = RowProfile(tuple(float(x) for x in loc), tuple(float(x) for x in scale))
    long = [a for a in arrs if a.shape[1] >= 3 * e]
    if e == 0 or not long:
        return profile
    z = [profile.apply(a).max(axis=0) for a in long]  # highest profiled cell of each frame
    interior = float(np.mean([f[e:f.size - e].mean() for f in z]))
    at = np.array([np.mean([(f[d] + f[f.size - 1 - d]) / 2 for f in z]) for d in range(e)])
    if interior <= 0:
        return profile
    edge = np.maximum(uniform_filter1d(at / interior, 3, mode="nearest"), 1.0)
    return RowProfile(profile.loc, profile.scale, tuple(float(x) for x in edge))


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
    #: Per-row standardisation applied to the detector's maps before everything above (None
    #: for model files from before it, whose maps are used raw).
    rows: RowProfile | None = None
    #: Share of a flagged region's peak height its cells must reach (``relative`` of
    #: :func:`~specview.metrics.regions.flagged_regions`); model files from before it: 0.5.
    region_level: float = RELATIVE_LEVEL
    #: Normal-cell quantile flagged regions grow down to from their cells above the threshold
    #: (``floor`` of :func:`~specview.metrics.regions.flagged_regions`); None: no growth, as in
    #: model files from before it.
    floor_quantile: float | None = None

    @property
    def normal_power(self) -> np.ndarray | None:
        """The rows' normal power ceilings, from which a flagged event's band is found (None
        without them)."""
        rows = self.rows
        return np.asarray(rows.power_ceiling) if rows is not None and rows.power_ceiling else None

    @property
    def region_floor(self) -> float | None:
        """The map value flagged regions grow down to (None: they do not grow)."""
        return None if self.floor_quantile is None else self.quantile(self.floor_quantile)

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
        return self._gumbel_quantile(self.clip_max, self.flag_rate)

    def _gumbel_quantile(self, maxima: Sequence[float], p: float) -> float:
        """The ``1 - p`` quantile of a Gumbel law fitted by moments to ``maxima``."""
        mx = np.asarray(maxima, dtype=np.float64)
        if mx.size < 3:
            return float(self.cell_quantiles[-1])
        beta = float(mx.std(ddof=1)) * np.sqrt(6.0) / np.pi
        mu = float(mx.mean()) - _EULER * beta
        return float(mu - beta * np.log(-np.log(1.0 - p)))

    def threshold_per_hour(self, per_hour: float, *, block_seconds: float) -> float:
        """The flag threshold for recordings of any length: about ``per_hour`` false flags per
        hour of normal audio.

        A Gumbel law (the law of maxima) is fitted to the highest cell of blocks of normal
        audio: the interior blocks of the held-out clips' maps (``extras["block_max"]``, blocks
        of ``extras["block_seconds"]``, away from the clips' ends, which a long recording has
        only two of), else the clips' own maxima (blocks of ``block_seconds``, the clips'
        length; model files from before the blocks were stored). An hour holds ``3600 / block``
        blocks, so ``per_hour`` flags an hour are ``p = per_hour * block / 3600`` per block, and
        the threshold is the law's ``1 - p`` quantile.

        Raises
        ------
        ParameterError
            ``per_hour`` or ``block_seconds`` not positive, or a rate of one flag per block or
            more.
        """
        if not (math.isfinite(block_seconds) and block_seconds > 0):
            raise ParameterError(f"block_seconds={block_seconds!r}; expected a duration > 0")
        if not (math.isfinite(per_hour) and per_hour > 0):
            raise ParameterError(f"false flags per hour {per_hour!r}: expected a number > 0")
        maxima = self.clip_max
        blocks = self.extras.get("block_max") or ()
        if len(blocks) >= 3 and self.extras.get("block_seconds"):
            maxima, block_seconds = blocks, float(self.extras["block_seconds"])
        p = per_hour * block_seconds / 3600.0
        if not p < 1.0:
            raise ParameterError(
                f"{per_hour:g} false flags per hour is one per {3600 / per_hour:.3g} s, as often "
                f"as the calibration's {block_seconds:.3g} s blocks; choose fewer than "
                f"{3600 / block_seconds:.3g} per hour")
        return self._gumbel_quantile(maxima, p)

    def flags_per_hour(self, block_seconds: float) -> float:
        """The calibration's own rate (``flag_rate`` per block) as false flags per hour."""
        return self.flag_rate * 3600.0 / float(block_seconds)

    def with_flag_rate(self, rate: float) -> Calibration:
        if not 0.0 < rate < 1.0:
            raise ParameterError(f"flag rate {rate!r} out of range; expected 0 < rate < 1")
        return replace(self, flag_rate=float(rate), extras=dict(self.extras))

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
            "region_level": self.region_level,
            **({"floor_quantile": self.floor_quantile} if self.floor_quantile is not None
               else {}),
            **({"rows": self.rows.to_dict()} if self.rows is not None else {}),
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
            # files written before the level was stored were cut at 0.5, whatever today's default
            level = float(d.get("region_level", 0.5))
            if not 0.0 <= level < 1.0:
                raise ValueError(f"region_level {level} out of range (0 <= level < 1)")
            floor_q = d.get("floor_quantile")
            if floor_q is not None:
                if isinstance(floor_q, bool) or not isinstance(floor_q, (int, float)):
                    raise ValueError(f"floor_quantile {floor_q!r} is not a number")
                floor_q = float(floor_q)
                if not 0.0 < floor_q < 1.0:
                    raise ValueError(f"floor_quantile {floor_q} out of range (0 < q < 1)")
            return cls(levels, values, tuple(float(x) for x in d.get("clip_scores", [])),
                       tuple(float(x) for x in d.get("clip_max", [])),
                       int(d["n_clips"]), bool(d["held_out"]), rate,
                       dict(d.get("extras", {})),
                       RowProfile.from_dict(d["rows"]) if d.get("rows") is not None else None,
                       level, floor_q)
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
