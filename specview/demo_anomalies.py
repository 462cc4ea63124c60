"""Anomalies injected into the demo's machine sounds (:mod:`specview.demo`).

One event per anomalous clip, inside its box, at least :data:`EDGE_S` s from the clip ends:

impact
    Decaying noise burst with a few ringing modes, band-limited to about 1-8 kHz; the box runs
    from 20 ms before the onset to 150 ms after it.
whine
    Bearing tone at 2-8 kHz with a few Hz of frequency jitter, 0.5-1.5 s with fades; the box is
    the tone +- (max(5 % of f, 40 Hz) + jitter).
rattle
    Train of short clicks (15-40 per second) band-limited to a 1.5-4 kHz wide band, 0.4-1 s.
friction
    Band-limited noise (3-10 kHz) with stick-slip pulsing, 0.3-1 s with fades.
dropout
    The machine attenuated over 0.3-0.8 s in a band or across the whole band; the anomaly
    source is the (negative) removed part, the box the band where it was removed.

Additive events are scaled to hit the nominal event-to-background ratio exactly
(:func:`specview.layout.event_to_background_db`); a dropout's depth is capped at
:data:`_MAX_DEPTH` (see "Level definition" in :mod:`specview.demo`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from specview.demo_machines import _bandpass, _fade, _pulse_train, _slow
from specview.types import Box

__all__ = ["ANOMALY_KINDS", "EDGE_S"]

ANOMALY_KINDS = ("impact", "whine", "rattle", "friction", "dropout")
#: Events keep at least this far from both clip ends (seconds).
EDGE_S = 0.3
#: Deepest dropout: a -40 dB residue of the machine stays, a cut-out rather than digital silence.
_MAX_DEPTH = 0.99


@dataclass(frozen=True)
class _Event:
    """An additive event before scaling: ``signal`` spans samples ``i0 .. i0 + len(signal)``."""

    signal: np.ndarray
    i0: int
    box: Box


def _place(
    rng: np.random.Generator, sr: int, duration: float, length_s: float
) -> tuple[float, float, int, int]:
    """A span of about ``length_s`` s kept ``EDGE_S`` from both ends, on a 1 ms grid."""
    d_ms = int(math.floor(duration * 1000.0 + 1e-6))
    edge_ms = int(round(EDGE_S * 1000))
    len_ms = min(int(round(length_s * 1000)), d_ms - 2 * edge_ms)
    start_ms = int(rng.integers(edge_ms, d_ms - edge_ms - len_ms + 1))
    t0, t1 = start_ms / 1000.0, (start_ms + len_ms) / 1000.0
    return t0, t1, int(round(t0 * sr)), int(round(t1 * sr))


def _cap(sr: int) -> float:
    """Highest frequency an event may reach (Hz): well below Nyquist."""
    return 0.45 * sr


def _impact(rng: np.random.Generator, sr: int, duration: float) -> _Event:
    # Box starts 20 ms before the onset so that analysis windows straddling it stay inside.
    onset = 0.02
    t0, t1, i0, i1 = _place(rng, sr, duration, onset + 0.15)
    m = i1 - i0
    f0 = float(round(rng.uniform(800.0, 1500.0)))
    f1 = float(round(min(f0 + rng.uniform(3000.0, 7000.0), _cap(sr))))
    tt = np.arange(m) / sr - onset
    after = tt >= 0
    tau = rng.uniform(0.015, 0.035)
    attack = np.clip(tt / 0.001, 0.0, 1.0)
    env = np.where(after, np.exp(-np.maximum(tt, 0.0) / tau), 0.0) * attack
    sig = rng.standard_normal(m) * env
    # A few ringing modes of the struck part make it sound metallic rather than like a burst.
    for _ in range(3):
        f = rng.uniform(f0 + 300.0, f1 - 300.0)
        sig += (
            rng.uniform(0.2, 0.6)
            * np.sin(2 * np.pi * f * np.maximum(tt, 0.0))
            * np.exp(-np.maximum(tt, 0.0) / rng.uniform(0.02, 0.05))
            * attack
            * after
        )
    sig = _bandpass(sig, sr, f0, f1) * _fade(m, int(0.005 * sr), int(0.015 * sr))
    return _Event(sig, i0, Box(t0, t1, f0, f1, "impact"))


def _whine(rng: np.random.Generator, sr: int, duration: float) -> _Event:
    t0, t1, i0, i1 = _place(rng, sr, duration, rng.uniform(0.5, 1.5))
    m = i1 - i0
    fc = rng.uniform(2000.0, min(8000.0, 0.4 * sr))
    dev = rng.uniform(2.0, 6.0)  # bearing-tone frequency jitter, Hz
    f_inst = fc + _slow(rng, m, sr, dev, fmax=12.0)
    phase = 2 * np.pi * np.cumsum(f_inst) / sr + rng.uniform(0, 2 * np.pi)
    t = np.arange(m) / sr
    am = 1.0 + 0.1 * np.sin(2 * np.pi * rng.uniform(2.0, 6.0) * t)
    n_fade = int(min(0.15, (t1 - t0) / 4) * sr)
    sig = np.sin(phase) * am * _fade(m, n_fade)
    margin = max(0.05 * fc, 40.0) + dev
    box = Box(t0, t1, float(math.floor(fc - margin)), float(math.ceil(fc + margin)), "whine")
    return _Event(sig, i0, box)


def _rattle(rng: np.random.Generator, sr: int, duration: float) -> _Event:
    t0, t1, i0, i1 = _place(rng, sr, duration, rng.uniform(0.4, 1.0))
    m = i1 - i0
    f0 = float(round(rng.uniform(1000.0, 3000.0)))
    f1 = float(round(min(f0 + rng.uniform(1500.0, 4000.0), _cap(sr))))
    rate = rng.uniform(15.0, 40.0)  # loose part hitting its seat, clicks per second
    n_max = int((t1 - t0) * rate * 1.5) + 2
    times = 0.01 + np.cumsum((1.0 / rate) * (1.0 + rng.uniform(-0.3, 0.3, n_max)))
    times = times[times < (t1 - t0) - 0.03]
    idx = np.round(times * sr).astype(np.int64)
    tk = np.arange(int(0.006 * sr)) / sr
    kernel = rng.standard_normal(len(tk)) * np.exp(-tk / 0.0015)
    sig = _pulse_train(m, idx, rng.uniform(0.5, 1.0, len(idx)), kernel)
    sig = _bandpass(sig, sr, f0, f1) * _fade(m, int(0.01 * sr))
    return _Event(sig, i0, Box(t0, t1, f0, f1, "rattle"))


def _friction(rng: np.random.Generator, sr: int, duration: float) -> _Event:
    t0, t1, i0, i1 = _place(rng, sr, duration, rng.uniform(0.3, 1.0))
    m = i1 - i0
    f0 = float(round(rng.uniform(3000.0, 5000.0)))
    f1 = float(round(min(f0 + rng.uniform(2500.0, 6000.0), 10000.0, _cap(sr))))
    t = np.arange(m) / sr
    # Stick-slip: the rubbing noise pulses a few times per second to some tens of times.
    stick = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(8.0, 20.0) * t + rng.uniform(0, 2 * np.pi))
    sig = _bandpass(rng.standard_normal(m), sr, f0, f1) * stick * _fade(m, m // 4)
    return _Event(sig, i0, Box(t0, t1, f0, f1, "friction"))


_ADDITIVE = {"impact": _impact, "whine": _whine, "rattle": _rattle, "friction": _friction}


def _dropout(
    rng: np.random.Generator, background: np.ndarray, sr: int, duration: float, level_db: float
) -> tuple[np.ndarray, Box]:
    """The removed part of ``background`` (negative, full length), and the box it was removed in.

    Attenuates a band by the depth that reaches ``level_db``; widens to the whole band when the
    band holds too little energy, and caps the depth at ``_MAX_DEPTH`` when even that falls short.
    """
    t0, t1, i0, i1 = _place(rng, sr, duration, rng.uniform(0.3, 0.8))
    m = i1 - i0
    span = background[i0:i1]
    e_bg = float(np.sum(span**2))
    target = 10.0 ** (level_db / 10.0)
    fa, fb = 0.0, sr / 2.0
    # A whole-band cut-out is a switch (5 ms ramps); a band dropout fades over 20 ms so that
    # its removed energy stays inside the band.
    removable = span * _fade(m, int(0.005 * sr))
    if rng.random() >= 1.0 / 3.0:
        band_lo = 0.0 if rng.random() < 0.5 else float(round(rng.uniform(100.0, 1500.0)))
        band_hi = float(round(min(band_lo + rng.uniform(500.0, 4000.0), _cap(sr))))
        # Filter the whole clip, not the span, so the band signal has no edge transients.
        band = _bandpass(background, sr, band_lo, band_hi, pad=False)[i0:i1]
        band *= _fade(m, int(min(0.02, (t1 - t0) / 6) * sr))
        if np.sum(band**2) >= target * e_bg:
            removable, fa, fb = band, band_lo, band_hi
    depth = min(_MAX_DEPTH, math.sqrt(target * e_bg / float(np.sum(removable**2))))
    anomaly = np.zeros(len(background))
    anomaly[i0:i1] = -depth * removable
    return anomaly, Box(t0, t1, fa, fb, "dropout")


def _anomalous_mix(
    background: np.ndarray,
    rng: np.random.Generator,
    sr: int,
    duration: float,
    kind: str,
    level_db: float,
) -> tuple[np.ndarray, Box]:
    """Mix (float64, before quantisation) of ``background`` with one event, and its box."""
    if kind == "dropout":
        anomaly, box = _dropout(rng, background, sr, duration, level_db)
        return background + anomaly, box
    ev = _ADDITIVE[kind](rng, sr, duration)
    i1 = ev.i0 + len(ev.signal)
    e_bg = float(np.sum(background[ev.i0 : i1] ** 2))
    scale = math.sqrt(10.0 ** (level_db / 10.0) * e_bg / float(np.sum(ev.signal**2)))
    mix = background.copy()
    mix[ev.i0 : i1] += scale * ev.signal
    return mix, ev.box
