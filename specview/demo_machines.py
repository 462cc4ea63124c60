"""Machine sounds of the synthetic demo datasets (:mod:`specview.demo`).

Each :class:`MachineType` of :data:`MACHINES` (fan, pump, valve and engine) draws one physical
unit from a seed (its nominal speed, blade count and resonances) and renders clips of it with
the clip-to-clip variability of a real machine: speed +-5 %, load (harmonic and noise levels),
random phases, slow drift of speed and level within the clip. The signal helpers here
(shaped noise, band-pass, fades, pulse trains) also build the anomalies of
:mod:`specview.demo_anomalies`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft as sfft

__all__ = ["MACHINES", "MachineType"]

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
