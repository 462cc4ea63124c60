"""Seeded synthetic datasets of machine sounds with labelled, isolated anomalies.

The generator writes folders in the layout :func:`specview.datasets.load_dataset` reads::

    out/README.txt
    out/train/normal_000.wav ...                       normal clips only
    out/test/normal_000.wav ...
    out/test/anomaly_003_whine_-6dB.wav ...            mix = background + anomaly (16-bit PCM)
    out/test/anomaly_003_whine_-6dB.Table.1.selections.txt   Raven box of the event
    out/test/sources/anomaly_003_whine_-6dB.background.wav   float WAV
    out/test/sources/anomaly_003_whine_-6dB.anomaly.wav      float WAV, = mix - background
    out/test/meta.csv
    out/.specview-files.json                           what the generator wrote (SHA-256)

Regenerating never loses an edit
--------------------------------
A dataset is written staged (:func:`specview.fileio.staged`): every file goes to a temporary
beside its target and all are put in place only when the last one is written, so a cancelled
or failed run leaves the folder as it was. The manifest ``.specview-files.json`` lists every
file written with its SHA-256. A folder that is not empty is regenerated only when it is an
untouched demo dataset: every file in it is listed in its manifest with the same content.
Otherwise (a sidecar or clip edited, a file added, a tree of an earlier specview without a
manifest, another folder) it is refused, unless ``force`` (``demo-data --force``): then the
demo's files are overwritten and files of other names are left alone. Files of an earlier run
that this one does not write (a larger run's extra clips) are removed only while unchanged.
With ``keep_changed`` (the GUI's cached demo, :func:`specview.pipeline.ensure_demo`) nothing is
refused and nothing the user changed is replaced: only missing and unchanged files are written.

Machines (:data:`MACHINES`)
---------------------------
fan, pump, valve and engine; each dataset plays one unit (its nominal speed, blade count and
resonances drawn once from the seed), and every clip varies it: speed +-5 %, load (harmonic
and noise levels), gain +-3 dB, random phases, slow drift of speed and level within the clip.

Anomalies (one per anomalous clip, inside its box, at least 0.3 s from the clip ends)
-------------------------------------------------------------------------------------
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

Level definition
----------------
The event-to-background ratio (EBR) of an anomalous clip is ::

    EBR = 10 * log10( sum(anomaly[i0:i1]**2) / sum(background[i0:i1]**2) )   dB

with ``i0 = round(t0 * sr)``, ``i1 = round(t1 * sr)`` the samples of the event's box, full band.
Additive events (impact, whine, rattle, friction) are scaled to hit the nominal level of
:data:`LEVELS_DB` exactly (measured on the float sources, to float32 precision). An anomalous
mix whose peak would pass 0.95 full scale is scaled down as a whole, background included, which
leaves the EBR unchanged.

A dropout removes part of the machine sound, so its anomaly source is the negative removed
part and its EBR cannot exceed 0 dB (muting everything removes exactly the background's
energy). The generator attenuates a random band by the depth that hits the nominal level; when
the band holds too little energy it widens the dropout to the whole band, and when even a
near-mute of the whole band falls short (nominal 0 and +6 dB) it caps the depth at 0.99 (the
machine drops by 40 dB: a cut-out rather than digital silence). The file name keeps the
nominal level; ``meta.csv`` always holds the EBR actually reached (about -0.1 to -1 dB for
capped dropouts, less when the background's energy sits at the span's edges).

Reproducibility
---------------
Every clip draws from its own ``numpy.random.default_rng`` child seed, keyed by
``(seed, machine, group, index)``; the same arguments therefore write byte-identical files, and
clip ``i`` of a group does not depend on how many clips the other groups hold.
"""

from __future__ import annotations

import csv
import inspect
import io
import math
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.fft as sfft

from specview import fileio
from specview.annotations import RAVEN_SUFFIX, sidecar_path, write_raven
from specview.audio import write_audio
from specview.errors import ParameterError
from specview.types import Box, Progress

__all__ = [
    "ANOMALY_KINDS",
    "LEVELS_DB",
    "MACHINES",
    "MachineType",
    "event_to_background_db",
    "make_demo_data",
    "make_demo_dataset",
]

ANOMALY_KINDS = ("impact", "whine", "rattle", "friction", "dropout")
LEVELS_DB = (6.0, 0.0, -6.0)

#: Events keep at least this far from both clip ends (seconds).
EDGE_S = 0.3
#: Peak of a normal clip before its random gain; with the +-3 dB gain peaks lie in 0.21-0.42.
_REF_PEAK = 0.3
_GAIN_DB = 3.0
#: Anomalous mixes whose peak would pass this are scaled down as a whole (EBR unchanged).
_MAX_PEAK = 0.95
#: Deepest dropout: a -40 dB residue of the machine stays, a cut-out rather than digital silence.
_MAX_DEPTH = 0.99
#: Lowest sample rate: the anomaly bands reach 8 kHz.
_MIN_SR = 16000
_MIN_DURATION = 1.0
#: First line of the README; marks a folder this module may regenerate in place.
_MARKER = "specview demo dataset"
_META_COLUMNS = ("file", "label", "kind", "level_db", "t0", "t1", "f0", "f1", "machine")

# Seed groups: keeps each clip's stream independent of how many clips the other groups hold.
_G_UNIT, _G_TRAIN, _G_TEST_NORMAL, _G_TEST_ANOMALY = 0, 1, 2, 3

Knots = Sequence[tuple[float, float]]


# ---------------------------------------------------------------------------------------------
# Signal helpers (vectorised; float64 where phases accumulate, float32 noise where it is cheaper)
# ---------------------------------------------------------------------------------------------


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) or 1.0


def _knots_db(freqs: np.ndarray, knots: Knots) -> np.ndarray:
    """Gain in dB at ``freqs`` (Hz), interpolated linearly over log-frequency between knots."""
    kf = np.log10([k[0] for k in knots])
    kd = np.array([k[1] for k in knots], dtype=float)
    return np.interp(np.log10(np.maximum(freqs, 1.0)), kf, kd)


def _jitter_knots(rng: np.random.Generator, knots: Knots, sd_db: float) -> tuple:
    """Per-unit colouring: each knot moved by a random number of dB."""
    return tuple((f, db + float(rng.normal(0.0, sd_db))) for f, db in knots)


@lru_cache(maxsize=64)
def _noise_gain(n: int, sr: float, knots: Knots) -> np.ndarray:
    """Amplitude response of :func:`_shaped_noise` on the ``rfft`` grid (cached per clip size)."""
    f = sfft.rfftfreq(n, 1.0 / sr)
    gain = (10.0 ** (_knots_db(f, knots) / 20.0)).astype(np.float32)
    gain[0] = 0.0  # a DC offset is no sound
    gain.flags.writeable = False
    return gain


def _shaped_noise(rng: np.random.Generator, n: int, sr: float, knots: Knots) -> np.ndarray:
    """Gaussian noise with the spectral envelope ``knots`` ((Hz, dB) pairs), unit RMS, float32.

    The spectrum of white Gaussian noise is itself white complex Gaussian, so it is drawn
    directly: one inverse FFT instead of a forward and an inverse one.
    """
    nf = n // 2 + 1
    spec = rng.standard_normal(2 * nf, dtype=np.float32).view(np.complex64)
    y = sfft.irfft(spec * _noise_gain(n, sr, tuple(knots)), n)
    return y / np.float32(_rms(y))


def _band_gain(f: np.ndarray, f0: float, f1: float, edge: float, nyq: float) -> np.ndarray:
    """Band-pass response, 1 inside ``[f0 + edge, f1 - edge]``, raised-cosine to 0 at f0 and f1.

    The transitions lie inside ``[f0, f1]`` so that all passed energy stays inside the box;
    an edge at 0 Hz or at Nyquist gets no transition.
    """
    d_lo = f - f0 if f0 > 0 else np.full_like(f, np.inf)
    d_hi = f1 - f if f1 < nyq else np.full_like(f, np.inf)
    d = np.minimum(d_lo, d_hi)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.clip(d / edge, 0.0, 1.0))
    return np.where(d >= 0, ramp, 0.0)


def _bandpass(x: np.ndarray, sr: int, f0: float, f1: float, *, pad: bool = True) -> np.ndarray:
    """Zero-phase FFT band-pass to ``[f0, f1]`` Hz.

    ``pad`` zero-pads to twice the length so the filter acts as a linear (not circular)
    convolution: tails that would wrap around are dropped instead of landing at the other end.
    """
    n = len(x)
    nfft = sfft.next_fast_len(2 * n, real=True) if pad else n
    f = sfft.rfftfreq(nfft, 1.0 / sr)
    edge = min(250.0, 0.15 * (f1 - f0))
    y = sfft.irfft(sfft.rfft(x, nfft) * _band_gain(f, f0, f1, edge, sr / 2.0), nfft)
    return y[:n]


def _fade(m: int, n_in: int, n_out: int | None = None) -> np.ndarray:
    """Flat-top window of ``m`` samples with raised-cosine fades of ``n_in``/``n_out`` samples."""
    n_out = n_in if n_out is None else n_out
    w = np.ones(m)
    if n_in > 0:
        w[:n_in] = 0.5 - 0.5 * np.cos(np.pi * np.arange(n_in) / n_in)
    if n_out > 0:
        w[m - n_out :] = 0.5 - 0.5 * np.cos(np.pi * np.arange(n_out, 0, -1) / n_out)
    return w


def _slow(rng: np.random.Generator, n: int, sr: int, depth: float, fmax: float = 0.4) -> np.ndarray:
    """Smooth random curve within ``+-depth``: three slow sinusoids (0.05-``fmax`` Hz)."""
    t = np.arange(n) / sr
    freqs = rng.uniform(0.05, fmax, 3)
    phases = rng.uniform(0.0, 2 * np.pi, 3)
    weights = rng.uniform(0.3, 1.0, 3)
    curve = np.zeros(n, dtype=np.float32)
    for f, ph, w in zip(freqs, phases, weights, strict=True):
        # float32 sine is an order of magnitude faster; its phase error is far below audibility
        curve += np.float32(w) * np.sin((2 * np.pi * f * t + ph).astype(np.float32))
    # float64 out: callers integrate it into phases, where float32 sums would drift
    return curve.astype(np.float64) * (depth / weights.sum())


def _cos_cycles(cycles: np.ndarray, phase: float = 0.0) -> np.ndarray:
    """``cos(2 pi cycles + phase)`` for long phase tracks, computed fast.

    Whole turns are removed in float64 first; the remaining angle is small enough for the
    (much faster) float32 cosine to stay accurate to about 1e-6.
    """
    frac = (cycles - np.floor(cycles)).astype(np.float32)
    return np.cos(np.float32(2 * np.pi) * frac + np.float32(phase)).astype(np.float64)


def _harmonic_tone(amps: np.ndarray, phases: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """Sum of harmonics ``k = 1..K`` read from a one-period wavetable at ``cycles`` (periods).

    One table lookup costs the same for 10 or 300 harmonics, and reading it at the running
    phase makes every harmonic follow the speed drift together, as on a real shaft.
    """
    k = len(amps)
    size = max(8192, 1 << int(math.ceil(math.log2(32 * k))))  # >= 32 points per top period
    spec = np.zeros(size // 2 + 1, dtype=complex)
    spec[1 : k + 1] = amps * np.exp(1j * phases) * (size / 2)
    table = sfft.irfft(spec, size)
    # cycles >= 0, so truncation is floor; size is a power of two, so a mask wraps the index
    pos = cycles * size
    i = pos.astype(np.int64)
    frac = pos - i
    i &= size - 1
    lo = table[i]
    return lo + (table[(i + 1) & (size - 1)] - lo) * frac


def _running_cycles(
    rng: np.random.Generator, n: int, sr: int, f_hz: float, drift: float
) -> np.ndarray:
    """Shaft position in revolutions: speed ``f_hz`` with a slow drift of ``+-drift`` (fraction)."""
    f_inst = f_hz * (1.0 + _slow(rng, n, sr, drift))
    return np.cumsum(f_inst) / sr + rng.random()


def _damped(sr: int, length_s: float, modes: Iterable[tuple[float, float, float]]) -> np.ndarray:
    """Impulse response made of damped sinusoids ``(freq Hz, decay time s, amplitude)``."""
    t = np.arange(int(round(length_s * sr))) / sr
    out = np.zeros_like(t)
    for f, tau, a in modes:
        out += a * np.sin(2 * np.pi * f * t) * np.exp(-t / tau)
    return out


def _pulse_train(n: int, idx: np.ndarray, amps: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Kernel placed at sample indices ``idx`` with gains ``amps``, cut to ``n`` samples.

    Events are sparse (tens to a few hundred per clip), so adding the kernel slice by slice is
    much cheaper than an FFT convolution of the whole clip.
    """
    out = np.zeros(n)
    k = len(kernel)
    for j, a in zip(idx.tolist(), np.asarray(amps).tolist(), strict=True):
        if 0 <= j < n:
            end = min(n, j + k)
            out[j:end] += a * kernel[: end - j]
    return out


def _db(x: float) -> float:
    """Amplitude factor of ``x`` dB."""
    return 10.0 ** (x / 20.0)


# ---------------------------------------------------------------------------------------------
# Machines
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MachineType:
    """One kind of machine the generator can play.

    Attributes
    ----------
    name : str
    description : str
        One line for README files and menus.
    draw_unit : callable ``(rng) -> dict``
        Draws the constants of one physical unit (nominal speed, blade count, resonances);
        every clip of a dataset comes from the same unit.
    render : callable ``(unit, rng, n, sr) -> np.ndarray``
        One clip of ``n`` samples at ``sr`` Hz with the clip-to-clip variability (speed +-5 %,
        load, random phases, slow drift) drawn from ``rng``; any scale (normalised later).
    """

    name: str
    description: str
    draw_unit: Callable[[np.random.Generator], dict]
    render: Callable[[dict, np.random.Generator, int, int], np.ndarray]


_FAN_AERO: Knots = (
    (10, -30),
    (60, -10),
    (250, 0),
    (800, -2),
    (2000, -8),
    (5000, -18),
    (10000, -30),
    (24000, -48),
)


def _fan_unit(rng: np.random.Generator) -> dict:
    return {
        "f_rot": float(rng.uniform(20.0, 30.0)),
        "blades": int(rng.choice([5, 6, 7, 9, 11])),
        "shaft_db": float(rng.uniform(-4.0, 2.0)),  # 1x line: imbalance of this unit
        "bp_db": float(rng.uniform(2.0, 8.0)),
        "loose_db": float(rng.uniform(-40.0, -30.0)),  # floor of all shaft orders
        "noise_db": float(rng.uniform(-6.0, 0.0)),
        "aero": _jitter_knots(rng, _FAN_AERO, 2.0),
    }


def _fan_render(u: dict, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    speed = 1.0 + rng.uniform(-0.05, 0.05)
    load = rng.random()
    f_rot = u["f_rot"] * speed
    cycles = _running_cycles(rng, n, sr, f_rot, 0.004)
    top = min(4000.0, 0.42 * sr)
    k = np.arange(1, int(top / (f_rot * 1.01)) + 1)
    amp_db = u["loose_db"] - 6.0 * np.log2(k)
    amp_db = np.where(k <= 6, np.maximum(amp_db, u["shaft_db"] - 8.0 * (k - 1)), amp_db)
    m = k // u["blades"]
    is_bp = (k % u["blades"] == 0) & (m >= 1)
    # Blade-pass lines grow with aerodynamic load.
    amp_db = np.where(is_bp, np.maximum(amp_db, u["bp_db"] + 4.0 * load - 5.0 * (m - 1)), amp_db)
    amp_db = amp_db + rng.normal(0.0, 1.5, len(k))
    tonal = _harmonic_tone(10.0 ** (amp_db / 20.0), rng.uniform(0, 2 * np.pi, len(k)), cycles)
    tonal /= _rms(tonal)
    # Turbulence is chopped by each passing blade: weak modulation at blade-pass rate.
    chop = 1.0 + 0.12 * _cos_cycles(u["blades"] * cycles, rng.uniform(0, 2 * np.pi))
    noise = _shaped_noise(rng, n, sr, u["aero"]) * chop
    x = tonal + _db(u["noise_db"] + 3.0 * load) * noise
    am_depth, am_rate = rng.uniform(0.03, 0.1), rng.uniform(0.2, 1.5)
    am = 1.0 + am_depth * _cos_cycles(am_rate * np.arange(n) / sr, rng.uniform(0, 2 * np.pi))
    return x * am * (1.0 + _slow(rng, n, sr, 0.03))


_PUMP_FLUID: Knots = (
    (10, -30),
    (50, -12),
    (200, -2),
    (600, 0),
    (1500, -6),
    (4000, -16),
    (10000, -30),
    (24000, -45),
)
_PUMP_CAVITATION: Knots = (
    (300, -45),
    (2000, -6),
    (4000, 0),
    (8000, -6),
    (16000, -25),
    (24000, -40),
)


def _pump_unit(rng: np.random.Generator) -> dict:
    return {
        "f_rot": float(rng.uniform(10.0, 16.0)),
        "vanes": int(rng.choice([5, 6, 7])),
        "mains": float(rng.choice([50.0, 60.0])),
        # Casing resonances colour the harmonic series: (centre Hz, gain dB, width octaves).
        "casing": tuple(
            (float(rng.uniform(150, 1500)), float(rng.uniform(4, 12)), float(rng.uniform(0.2, 0.5)))
            for _ in range(3)
        ),
        "noise_db": float(rng.uniform(-14.0, -8.0)),
        "cav_db": float(rng.uniform(-24.0, -16.0)),
        "hum_db": float(rng.uniform(-14.0, -6.0)),
        "fluid": _jitter_knots(rng, _PUMP_FLUID, 2.0),
    }


def _pump_render(u: dict, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    speed = 1.0 + rng.uniform(-0.05, 0.05)
    load = rng.random()
    f_rot = u["f_rot"] * speed
    cycles = _running_cycles(rng, n, sr, f_rot, 0.005)
    top = min(3000.0, 0.42 * sr)
    k = np.arange(1, int(top / (f_rot * 1.01)) + 1)
    fk = k * f_rot
    amp_db = -4.5 * np.log2(k)  # slow roll-off: a rich, buzzy series
    for fc, gain, width in u["casing"]:
        amp_db = amp_db + gain * np.exp(-0.5 * (np.log2(fk / fc) / width) ** 2)
    amp_db = np.where(k % u["vanes"] == 0, amp_db + 6.0 + 3.0 * load, amp_db)
    amp_db = amp_db + rng.normal(0.0, 1.5, len(k))
    tonal = _harmonic_tone(10.0 ** (amp_db / 20.0), rng.uniform(0, 2 * np.pi, len(k)), cycles)
    # Pressure pulsation: the whole sound breathes once per revolution.
    tonal *= 1.0 + 0.08 * _cos_cycles(cycles, rng.uniform(0, 2 * np.pi))
    tonal /= _rms(tonal)
    depth = rng.uniform(0.15, 0.3)
    pulse = 1.0 + depth * _cos_cycles(u["vanes"] * cycles, rng.uniform(0, 2 * np.pi))
    fluid = _shaped_noise(rng, n, sr, u["fluid"]) * pulse
    # Cavitation crackle: high-frequency noise gated by a slowly wandering log-normal envelope.
    # The gate only holds < 60 Hz, so it is drawn at 1/64 of the rate and held (cheap).
    hold = 64
    slow_noise = _shaped_noise(
        rng, n // hold + 1, sr / hold, ((1, 0), (30, 0), (60, -60), (1e5, -60))
    )
    gate = np.exp(0.9 * np.repeat(slow_noise, hold)[:n])
    cav = _shaped_noise(rng, n, sr, _PUMP_CAVITATION) * gate / _rms(gate)
    t = np.arange(n) / sr
    hum = _harmonic_tone(
        np.array([1.0, 0.4, 0.2]), rng.uniform(0, 2 * np.pi, 3), 2.0 * u["mains"] * t
    )
    x = (
        tonal
        + _db(u["noise_db"] + 2.0 * load) * fluid
        + _db(u["cav_db"] + 4.0 * load) * cav
        + _db(u["hum_db"]) * hum / _rms(hum)
    )
    return x * (1.0 + _slow(rng, n, sr, 0.03))


_VALVE_FLOOR: Knots = ((10, -25), (100, -5), (500, 0), (2000, -8), (8000, -20), (24000, -40))
_VALVE_HISS: Knots = ((200, -40), (1000, -10), (3000, 0), (8000, -4), (16000, -20), (24000, -35))


def _valve_unit(rng: np.random.Generator) -> dict:
    def click() -> tuple:
        # Three mechanical modes of the valve body: (freq Hz, decay s, amplitude).
        return (
            (float(rng.uniform(700, 1500)), float(rng.uniform(0.005, 0.012)), 1.0),
            (
                float(rng.uniform(2000, 4000)),
                float(rng.uniform(0.003, 0.008)),
                float(rng.uniform(0.4, 0.9)),
            ),
            (
                float(rng.uniform(4500, 7000)),
                float(rng.uniform(0.002, 0.005)),
                float(rng.uniform(0.2, 0.6)),
            ),
        )

    return {
        "period": float(rng.uniform(0.45, 0.9)),
        "close_frac": float(rng.uniform(0.25, 0.5)),
        "open": click(),
        "close": click(),
        "close_gain": float(rng.uniform(0.5, 0.9)),
        "hiss_db": float(rng.uniform(-26.0, -18.0)),
        "floor_db": float(rng.uniform(-46.0, -38.0)),
        "floor": _jitter_knots(rng, _VALVE_FLOOR, 2.0),
    }


def _valve_render(u: dict, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    speed = 1.0 + rng.uniform(-0.05, 0.05)
    load = rng.random()
    period = u["period"] / speed
    nyq_ok = 0.45 * sr
    k_open = _damped(sr, 0.06, ((min(f, nyq_ok), tau, a) for f, tau, a in u["open"]))
    k_close = _damped(sr, 0.06, ((min(f, nyq_ok), tau, a) for f, tau, a in u["close"]))
    k_open /= np.max(np.abs(k_open))
    k_close /= np.max(np.abs(k_close))
    # Pre-roll: the valve was already cycling before the clip started.
    pre = int(0.3 * sr)
    total = n + pre
    n_events = int(total / (sr * period)) + 3
    gaps = period * (1.0 + rng.normal(0.0, 0.03, n_events))
    t_open = rng.uniform(0.0, period) + np.cumsum(gaps) - gaps[0]
    t_close = t_open + u["close_frac"] * period * (1.0 + rng.normal(0.0, 0.05, n_events))
    i_open = np.round(t_open * sr).astype(np.int64)
    i_close = np.round(t_close * sr).astype(np.int64)
    keep_o, keep_c = i_open < total, i_close < total
    gain = 1.0 + 0.2 * load
    a_open = gain * rng.lognormal(0.0, 0.1, n_events)
    a_close = gain * u["close_gain"] * rng.lognormal(0.0, 0.1, n_events)
    clicks = _pulse_train(total, i_open[keep_o], a_open[keep_o], k_open)
    clicks += _pulse_train(total, i_close[keep_c], a_close[keep_c], k_close)
    # Air rushes through for a moment after each opening.
    t_h = np.arange(int(0.25 * sr)) / sr
    hiss_env = _pulse_train(total, i_open[keep_o], a_open[keep_o], np.exp(-t_h / 0.04))
    hiss = _shaped_noise(rng, total, sr, _VALVE_HISS) * hiss_env
    floor = _shaped_noise(rng, total, sr, u["floor"])
    x = clicks + _db(u["hiss_db"] + 3.0 * load) * hiss + _db(u["floor_db"]) * floor
    return x[pre:] * (1.0 + _slow(rng, n, sr, 0.02))


_ENGINE_MECH: Knots = ((20, -30), (200, -12), (1000, -2), (3000, 0), (8000, -10), (24000, -35))


def _engine_unit(rng: np.random.Generator) -> dict:
    rpm = float(rng.uniform(750.0, 950.0))
    return {
        "f_fire": rpm / 60.0 * 2.0,  # four-stroke, four cylinders: two firings per revolution
        "cyl_gain": tuple(float(g) for g in 1.0 + rng.normal(0.0, 0.08, 4)),
        "exhaust": (float(rng.uniform(70.0, 140.0)), float(rng.uniform(0.010, 0.025))),
        "body": (float(rng.uniform(300.0, 600.0)), float(rng.uniform(0.004, 0.008))),
        "knock": (float(rng.uniform(1500.0, 3500.0)), float(rng.uniform(0.001, 0.003))),
        "mech_db": float(rng.uniform(-22.0, -14.0)),
        "mech": _jitter_knots(rng, _ENGINE_MECH, 2.0),
    }


def _engine_render(u: dict, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    speed = 1.0 + rng.uniform(-0.05, 0.05)
    load = rng.random()
    pre = int(0.2 * sr)
    total = n + pre
    cycles = _running_cycles(rng, total, sr, u["f_fire"] * speed, 0.006)
    fired = np.floor(cycles)
    idx = np.flatnonzero(np.diff(fired) > 0) + 1
    cyl = fired[idx].astype(np.int64) % 4
    amps = np.asarray(u["cyl_gain"])[cyl] * rng.lognormal(0.0, 0.06, len(idx))
    kernel = _damped(
        sr,
        0.1,
        (
            (u["exhaust"][0], u["exhaust"][1], 1.0),
            (u["body"][0], u["body"][1], 0.5 + 0.3 * load),
            (min(u["knock"][0], 0.45 * sr), u["knock"][1], 0.3 + 0.3 * load),
        ),
    )
    firing = _pulse_train(total, idx, amps, kernel)
    firing /= _rms(firing)
    # Valve train and injectors: broadband ticking in step with the firing cycle.
    tick = 1.0 + 0.6 * _cos_cycles(cycles, rng.uniform(0, 2 * np.pi))
    mech = _shaped_noise(rng, total, sr, u["mech"]) * tick
    x = firing + _db(u["mech_db"] + 3.0 * load) * mech
    return x[pre:] * (1.0 + _slow(rng, n, sr, 0.03))


#: Registry of machine types, by name.
MACHINES: dict[str, MachineType] = {
    m.name: m
    for m in (
        MachineType(
            "fan",
            "industrial fan: 20-30 Hz rotation with shaft orders, blade-pass tone and harmonics, "
            "shaped aerodynamic noise, slow amplitude modulation",
            _fan_unit,
            _fan_render,
        ),
        MachineType(
            "pump",
            "centrifugal pump: 10-16 Hz shaft with a rich harmonic series coloured by casing "
            "resonances, pulsating fluid noise, cavitation crackle, motor hum",
            _pump_unit,
            _pump_render,
        ),
        MachineType(
            "valve",
            "solenoid valve: quiet noise floor with open/close clicks every 0.45-0.9 s "
            "(jittered) and a short air rush after each opening",
            _valve_unit,
            _valve_render,
        ),
        MachineType(
            "engine",
            "idling four-cylinder engine: 25-32 Hz firing pulses with cylinder imbalance, "
            "exhaust resonance and mechanical ticking",
            _engine_unit,
            _engine_render,
        ),
    )
}


# ---------------------------------------------------------------------------------------------
# Anomalies
# ---------------------------------------------------------------------------------------------


def event_to_background_db(
    anomaly: np.ndarray, background: np.ndarray, sr: int, t0: float, t1: float
) -> float:
    """EBR in dB: energy of ``anomaly`` over energy of ``background`` within ``[t0, t1]`` s.

    The span is samples ``round(t0 * sr)`` to ``round(t1 * sr)`` (end excluded), full band.
    """
    i0, i1 = int(round(t0 * sr)), int(round(t1 * sr))
    a = np.asarray(anomaly[i0:i1], dtype=np.float64)
    b = np.asarray(background[i0:i1], dtype=np.float64)
    return float(10.0 * np.log10(np.sum(a * a) / np.sum(b * b)))


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


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _clip_rng(seed: int, machine: str, group: int, index: int) -> np.random.Generator:
    ss = np.random.SeedSequence([seed, zlib.crc32(machine.encode())], spawn_key=(group, index))
    return np.random.default_rng(ss)


def _background(
    spec: MachineType, unit: dict, rng: np.random.Generator, n: int, sr: int
) -> np.ndarray:
    """One normal clip: the machine's render normalised to the reference peak, +-3 dB gain."""
    x = spec.render(unit, rng, n, sr)
    gain = _db(rng.uniform(-_GAIN_DB, _GAIN_DB))
    return x * (_REF_PEAK * gain / np.max(np.abs(x)))


def _level_tag(level_db: float) -> str:
    return "0" if level_db == 0 else f"{level_db:+g}"


def _float_wav(path: Path, samples: np.ndarray, sr: int) -> bytes:
    """Mono 32-bit float WAV (what soundfile calls subtype FLOAT), byte-reproducibly.

    libsndfile adds a PEAK chunk with a time stamp to float WAV files, so two runs would differ
    in a few header bytes; this builds the plain RIFF layout itself instead.
    """
    data = np.ascontiguousarray(samples, dtype="<f4").tobytes()
    if len(data) > 0xFFFFFFFF - 64:
        raise ParameterError(f"{path}: {len(data)} bytes is too long for a WAV file")
    # WAVE_FORMAT_IEEE_FLOAT, 1 channel, sr, bytes/s, block align, bits, cbSize
    fmt = struct.pack("<HHIIHHH", 3, 1, sr, 4 * sr, 4, 32, 0)
    fact = struct.pack("<I", len(data) // 4)  # non-PCM formats carry a sample count
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"fact"
        + struct.pack("<I", len(fact))
        + fact
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


#: Written by :func:`specview.pipeline.ensure_demo` beside the dataset; not a changed file.
_FLAG = ".complete"


def _list(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def _check_target(out: Path, *, force: bool, keep_changed: bool) -> dict[str, str]:
    """Check that ``out`` may be (re)generated; return its manifest (``{}`` when none).

    See "Regenerating never loses an edit" in the module notes.
    """
    if os.path.lexists(out) and not out.is_dir():
        raise ParameterError(f"{out}: exists and is not a folder; choose a folder for the dataset")
    if not out.is_dir() or not any(out.iterdir()):
        return {}
    manifest = fileio.read_manifest(out)
    if force or keep_changed:
        return manifest or {}
    if manifest is None:
        readme = out / "README.txt"
        ours = readme.is_file() and readme.read_text(encoding="utf-8", errors="replace").startswith(
            _MARKER
        )
        if ours:
            raise ParameterError(
                f"{out}: folder is not empty: it holds a demo dataset of an earlier specview, "
                "which kept no list of its files, so edits to them cannot be ruled out; choose a "
                "new or empty folder, or pass --force to overwrite the demo's files"
            )
        raise ParameterError(
            f"{out}: folder is not empty and holds no specview demo dataset; choose a new or "
            "empty folder, or pass --force to write the demo's files into it (files of other "
            "names are left alone)"
        )
    changed, foreign = fileio.tree_changes(out, manifest, ignore=[_FLAG])
    if changed or foreign:
        what = "; ".join(
            part for part in (
                f"changed since it was generated: {_list(changed)}" if changed else "",
                f"not written by specview: {_list(foreign)}" if foreign else "",
            ) if part
        )
        raise ParameterError(
            f"{out}: folder is not empty and is not an untouched demo dataset ({what}); "
            "nothing was done; choose a new or empty folder, or pass --force to regenerate it "
            "(the demo's files are overwritten, files of other names are left alone)"
        )
    return manifest


def _check_args(machine: str, counts: dict[str, int], duration: float, sr: int, seed: int) -> None:
    if machine not in MACHINES:
        raise ParameterError(f"unknown machine {machine!r}; choose one of {sorted(MACHINES)}")
    for name, v in counts.items():
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
            raise ParameterError(f"{name} must be a whole number >= 0, got {v!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(f"seed must be a whole number >= 0, got {seed!r}")
    if not (isinstance(sr, int | np.integer) and sr >= _MIN_SR):
        raise ParameterError(
            f"sample rate {sr!r} Hz is too low: the anomalies reach 8 kHz, use >= {_MIN_SR} Hz"
        )
    if not (
        isinstance(duration, int | float) and math.isfinite(duration) and duration >= _MIN_DURATION
    ):
        raise ParameterError(
            f"duration {duration!r} s is too short: events keep {EDGE_S} s from both ends, "
            f"use >= {_MIN_DURATION} s"
        )


def _readme(
    machine: str,
    seed: int,
    n_train: int,
    n_test_normal: int,
    n_test_anomalous: int,
    duration: float,
    sr: int,
) -> str:
    return f"""{_MARKER} (generated by specview.demo, synthetic audio)

Machine: {machine} - {MACHINES[machine].description}
Seed: {seed}   (same seed and arguments -> byte-identical files)
Clips: {n_train} normal in train/, {n_test_normal} normal + {n_test_anomalous} anomalous in test/;
{duration:g} s each, {sr} Hz mono, 16-bit PCM.

Anomalies cycle through the kinds {", ".join(ANOMALY_KINDS)} and the levels
{", ".join(f"{x:+g}" for x in LEVELS_DB)} dB (kind = i mod 5, level = i mod 3; every pairing
appears once per 15 anomalous clips). Each anomalous clip test/<stem>.wav has
  test/<stem>{RAVEN_SUFFIX}    Raven selection table with the event's box
  test/sources/<stem>.background.wav  the machine alone (float WAV)
  test/sources/<stem>.anomaly.wav     clip minus background (float WAV)
test/meta.csv lists every test clip: file, label (1 anomalous, 0 normal), kind, level_db,
t0, t1 (s), f0, f1 (Hz), machine.

Level: event-to-background ratio, EBR = 10*log10(E_anomaly / E_background) in dB, both
energies summed over the box's time span [t0, t1] (full band). File names hold the nominal
level; meta.csv holds the EBR actually measured from the written sources.

Dropouts remove part of the machine sound, so their EBR cannot exceed 0 dB: the removed band
is widened to the whole band when it holds too little energy, and the depth is capped at 0.99
(the machine drops by 40 dB). Dropouts named +6dB or 0dB are therefore near-mutes whose
measured EBR (slightly below 0 dB) is the one in meta.csv.

An anomalous clip whose peak would pass 0.95 full scale is scaled down as a whole (background
and event alike, EBR unchanged); normal clips peak at 0.21-0.42 full scale.
"""


def make_demo_dataset(
    out: str | Path,
    *,
    machine: str = "fan",
    seed: int = 0,
    n_train: int = 40,
    n_test_normal: int = 12,
    n_test_anomalous: int = 12,
    duration: float = 5.0,
    sr: int = 44100,
    progress: Progress | None = None,
    force: bool = False,
    keep_changed: bool = False,
) -> Path:
    """Write one synthetic dataset of ``machine`` sounds into the folder ``out``.

    Parameters
    ----------
    out : str or Path
        Dataset folder; created if missing. It must be new, empty, or an untouched earlier
        demo dataset (whose files are replaced), unless ``force`` or ``keep_changed``.
    machine : str
        A key of :data:`MACHINES`.
    seed : int
        Non-negative; the same seed and arguments give byte-identical files.
    n_train, n_test_normal, n_test_anomalous : int
        Number of clips of each group.
    duration : float, seconds
        Length of every clip (at least 1 s).
    sr : int, Hz
        Sample rate (at least 16000).
    progress : callable ``(done, total)``, optional
        Called after each written clip; may raise :class:`specview.errors.Cancelled` (the
        folder is then left as it was).
    force : bool
        Write into a folder that is not empty and not an untouched demo dataset, overwriting
        the demo's files there (files of other names are left alone).
    keep_changed : bool
        Refuse nothing and replace nothing the user changed: write only the files that are
        missing or unchanged since specview wrote them (for the cached GUI demo).

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ParameterError
        Unknown machine, negative counts, too short clips, too low a sample rate, or an
        ``out`` folder that is a file, or holds other or edited files (without ``force`` or
        ``keep_changed``); checked before anything is generated.
    specview.fileio.OutputWriteError
        A file could not be written; the folder is left as it was.
    """
    counts = {
        "n_train": n_train,
        "n_test_normal": n_test_normal,
        "n_test_anomalous": n_test_anomalous,
    }
    _check_args(machine, counts, duration, sr, seed)
    seed, sr, duration = int(seed), int(sr), float(duration)
    out = Path(out)
    old = _check_target(out, force=force, keep_changed=keep_changed)
    with fileio.staged() as outputs:
        _generate(out, outputs, old, keep_changed, machine, seed, n_train, n_test_normal,
                  n_test_anomalous, duration, sr, progress)
    return out


def _generate(
    out: Path,
    outputs: fileio.OutputSet,
    old: dict[str, str],
    keep_changed: bool,
    machine: str,
    seed: int,
    n_train: int,
    n_test_normal: int,
    n_test_anomalous: int,
    duration: float,
    sr: int,
    progress: Progress | None,
) -> None:
    written: dict[str, str] = {}  # relative path -> SHA-256 of what was generated

    def record(target: Path) -> None:
        tmp = outputs.temp_of(target)
        digest = fileio.sha256_file(tmp)
        rel = target.relative_to(out).as_posix()
        written[rel] = digest
        if keep_changed and os.path.lexists(target):
            try:
                current = fileio.sha256_file(target) if target.is_file() else None
            except OSError:
                current = None
            if current != digest and current != old.get(rel):
                outputs.discard(target)  # the user's version stays

    def write_pcm(target: Path, x: np.ndarray) -> None:
        with outputs.output(target) as tmp:  # tmp ends in .wav: 16-bit PCM WAV
            write_audio(tmp, x, sr)
        record(target)

    def write_float(target: Path, x: np.ndarray) -> None:
        outputs.write_bytes(target, _float_wav(target, x, sr))
        record(target)

    def write_text(target: Path, text: str) -> None:
        fileio.atomic_write_text(target, text, newline="")
        record(target)

    write_text(
        out / "README.txt",
        _readme(machine, seed, n_train, n_test_normal, n_test_anomalous, duration, sr),
    )
    spec = MACHINES[machine]
    unit = spec.draw_unit(_clip_rng(seed, machine, _G_UNIT, 0))
    n = int(round(duration * sr))
    total = n_train + n_test_normal + n_test_anomalous
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    def width(count: int) -> int:
        return max(3, len(str(max(count - 1, 0))))

    for i in range(n_train):
        x = _background(spec, unit, _clip_rng(seed, machine, _G_TRAIN, i), n, sr)
        write_pcm(out / "train" / f"normal_{i:0{width(n_train)}d}.wav", x)
        tick()

    test = out / "test"
    rows: list[tuple] = []
    for i in range(n_test_normal):
        x = _background(spec, unit, _clip_rng(seed, machine, _G_TEST_NORMAL, i), n, sr)
        name = f"normal_{i:0{width(n_test_normal)}d}.wav"
        write_pcm(test / name, x)
        rows.append((name, 0, "", "", "", "", "", "", machine))
        tick()

    for i in range(n_test_anomalous):
        kind = ANOMALY_KINDS[i % len(ANOMALY_KINDS)]
        level = LEVELS_DB[i % len(LEVELS_DB)]
        rng = _clip_rng(seed, machine, _G_TEST_ANOMALY, i)
        bg = _background(spec, unit, rng, n, sr)
        mix, box = _anomalous_mix(bg, rng, sr, duration, kind, level)
        peak = float(np.max(np.abs(mix)))
        if peak > _MAX_PEAK:  # scale mix and background alike: the EBR is a ratio
            mix *= _MAX_PEAK / peak
            bg *= _MAX_PEAK / peak
        stem = f"anomaly_{i:0{width(n_test_anomalous)}d}_{kind}_{_level_tag(level)}dB"
        clip = test / f"{stem}.wav"
        write_pcm(clip, mix)
        bg32 = bg.astype(np.float32)
        # The anomaly is defined as mix - background (so a dropout's source is the negative
        # removed part): the two float sources sum to the mix to float precision, and to the
        # 16-bit clip within its quantisation, while the anomaly stays exactly 0 outside its span.
        anom32 = (mix - bg).astype(np.float32)
        write_float(test / "sources" / f"{stem}.background.wav", bg32)
        write_float(test / "sources" / f"{stem}.anomaly.wav", anom32)
        write_raven(sidecar_path(clip), [box])  # joins the staged outputs
        record(sidecar_path(clip))
        ebr = event_to_background_db(anom32, bg32, sr, box.t0, box.t1)
        rows.append(
            (
                clip.name,
                1,
                kind,
                f"{round(ebr, 4) + 0.0:.4f}",
                repr(box.t0),
                repr(box.t1),
                repr(box.f0),
                repr(box.f1),
                machine,
            )
        )
        tick()

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_META_COLUMNS)
    writer.writerows(rows)
    write_text(test / "meta.csv", buf.getvalue())
    # files of the earlier run that this one does not write go, while unchanged
    for rel, digest in old.items():
        if rel not in written:
            outputs.delete_on_commit(out / rel, sha256=digest)
    # the manifest lists what was generated (also where the user's version was kept)
    fileio.atomic_write_text(out / fileio.MANIFEST_NAME, fileio.manifest_text(written))


def make_demo_data(
    out: str | Path,
    *,
    seed: int = 0,
    machines: Iterable[str] | None = None,
    progress: Progress | None = None,
    force: bool = False,
    keep_changed: bool = False,
    **kw,
) -> list[Path]:
    """Write one dataset per machine into ``out/<machine>/`` with :func:`make_demo_dataset`.

    Parameters
    ----------
    out : str or Path
        Parent folder.
    seed : int
        Passed to every dataset (each machine still gets its own streams).
    machines : iterable of str, optional
        Keys of :data:`MACHINES`; all of them by default.
    progress : callable ``(done, total)``, optional
        Counts clips over all machines together.
    force, keep_changed : bool
        As for :func:`make_demo_dataset`. Every machine's folder is checked before the first
        clip is generated, and all datasets are put in place together at the end (a failure
        leaves every folder as it was).
    **kw
        Further keyword arguments of :func:`make_demo_dataset` (counts, duration, sr).

    Returns
    -------
    list of Path
        The dataset folders, in the order of ``machines``.
    """
    if machines is None:
        names = list(MACHINES)
    elif isinstance(machines, str):  # one name, not its letters
        names = [machines]
    else:
        names = [str(m) for m in machines]
    unknown = [m for m in names if m not in MACHINES]
    if unknown:
        raise ParameterError(f"unknown machine(s) {unknown}; choose from {sorted(MACHINES)}")
    if "machine" in kw:
        raise ParameterError("pass machines=[...] to make_demo_data, not machine=")
    params = inspect.signature(make_demo_dataset).parameters
    counts = [
        kw.get(k, params[k].default) for k in ("n_train", "n_test_normal", "n_test_anomalous")
    ]
    if not all(isinstance(c, int | np.integer) and not isinstance(c, bool) for c in counts):
        raise ParameterError(f"clip counts must be whole numbers, got {counts}")
    per = int(sum(counts))
    grand = per * len(names)
    fileio.check_output_folder(out, what=None)  # refuse before any work
    for name in names:
        _check_target(Path(out) / name, force=force, keep_changed=keep_changed)
    paths: list[Path] = []
    with fileio.staged():
        for j, name in enumerate(names):
            offset = j * per

            def sub(done: int, _total: int, offset: int = offset) -> None:
                if progress is not None:
                    progress(offset + done, grand)

            paths.append(make_demo_dataset(Path(out) / name, machine=name, seed=seed,
                                           progress=sub, force=force,
                                           keep_changed=keep_changed, **kw))
    return paths
