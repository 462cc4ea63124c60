"""The inputs of an EnvMix build (:mod:`specview.envmix`): the UrbanSound8K and ESC-50 copies.

Reads the two corpora's metadata and audio, picks the background slices of one class that are
long enough, and prepares the ESC-50 events as they are mixed in (:func:`trim_event`: active
span, loudest window, zero mean, fades; :func:`_energy_band`: the box's frequency band). See
"Backgrounds", "Events" and "Box" in :mod:`specview.envmix`.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from specview.audio import audio_info, load_audio
from specview.errors import DatasetError

__all__ = ["BAND_ENERGY", "FADE_S", "TRIM_DB", "trim_event", "urbansound8k_classes"]

#: Event frames within this many dB of the loudest frame make its active span.
TRIM_DB = 40.0
#: Share of the event's energy inside the box's frequency band.
BAND_ENERGY = 0.95
#: Raised-cosine fade at both ends of every trimmed event (seconds).
FADE_S = 0.01

_US8K_CSV = Path("metadata") / "UrbanSound8K.csv"
_US8K_COLUMNS = ("slice_file_name", "fold", "class")
_ESC50_CSV = Path("meta") / "esc50.csv"
_ESC50_COLUMNS = ("filename", "category")
_FRAME_S, _HOP_S = 0.02, 0.005
_NFFT = 2048


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


def _read_csv(path: Path, columns: Sequence[str], what: str, hint: str) -> list[tuple[int, dict]]:
    """Rows of a metadata CSV as ``(line number, {column: cell})``."""
    if not path.is_file():
        raise DatasetError(f"{what}: expected {path} ({hint})")
    try:
        text = path.read_text(encoding="utf-8-sig")
        rows = list(csv.reader(text.splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: cannot read {what} metadata ({exc})") from None
    if not rows:
        raise DatasetError(f"{path}: the {what} metadata file is empty")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in columns if c not in header]
    if missing:
        raise DatasetError(
            f"{path}: missing column(s) {missing} in header {header}; is this the {what} "
            "metadata file?"
        )
    out = []
    for lineno, cells in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise DatasetError(
                f"{path}, line {lineno}: {len(cells)} cell(s) but the header has {len(header)}"
            )
        out.append((lineno, dict(zip(header, (c.strip() for c in cells), strict=True))))
    return out


def _us8k_rows(root: Path) -> list[tuple[int, dict]]:
    if not root.is_dir():
        raise DatasetError(
            f"{root}: no such folder; pass the UrbanSound8K folder (holding audio/fold1..fold10/ "
            "and metadata/UrbanSound8K.csv)"
        )
    rows = _read_csv(
        root / _US8K_CSV, _US8K_COLUMNS, "UrbanSound8K",
        "the UrbanSound8K folder holds metadata/UrbanSound8K.csv and audio/fold1..fold10/",
    )
    if not (root / "audio").is_dir():
        raise DatasetError(f"UrbanSound8K: expected the folder {root / 'audio'} (fold1..fold10/)")
    return rows


def urbansound8k_classes(urbansound8k: str | Path) -> list[str]:
    """The class names of an UrbanSound8K copy (its metadata CSV), sorted."""
    return sorted({r["class"] for _, r in _us8k_rows(Path(urbansound8k))})


def _esc50_rows(root: Path) -> list[tuple[int, dict]]:
    if not root.is_dir():
        raise DatasetError(
            f"{root}: no such folder; pass the ESC-50 folder (holding audio/*.wav and "
            "meta/esc50.csv)"
        )
    rows = _read_csv(
        root / _ESC50_CSV, _ESC50_COLUMNS, "ESC-50",
        "the ESC-50 folder holds meta/esc50.csv and audio/*.wav",
    )
    if not (root / "audio").is_dir():
        raise DatasetError(f"ESC-50: expected the folder {root / 'audio'} holding *.wav")
    return rows


@dataclass(frozen=True)
class _Slice:
    path: Path
    rel: str  # path inside the UrbanSound8K folder, for meta.csv


def _background_slices(
    root: Path, background: str, clip_seconds: float
) -> tuple[list[_Slice], int]:
    """Slices of ``background`` at least ``clip_seconds`` long, by file name, and the skip count."""
    rows = _us8k_rows(root)
    csv_path = root / _US8K_CSV
    classes = sorted({r["class"] for _, r in rows})
    if background not in classes:
        raise DatasetError(
            f"unknown UrbanSound8K background class {background!r}; choose one of "
            f"{', '.join(classes)}"
        )
    usable: list[_Slice] = []
    short = 0
    for lineno, row in sorted(
        ((n, r) for n, r in rows if r["class"] == background), key=lambda x: x[1]["slice_file_name"]
    ):
        fold = row["fold"]
        if not fold.isdigit():
            raise DatasetError(f"{csv_path}, line {lineno}: fold must be a number, got {fold!r}")
        rel = f"audio/fold{int(fold)}/{row['slice_file_name']}"
        path = root / rel
        if not path.is_file():
            raise DatasetError(
                f"UrbanSound8K: expected {path} (listed in {csv_path}, line {lineno}); is the "
                "copy complete?"
            )
        native_sr, _, duration = audio_info(path)
        if round(duration * native_sr) + 1e-6 < clip_seconds * native_sr:
            short += 1
            continue
        usable.append(_Slice(path, rel))
    return usable, short


def _load_background(s: _Slice, sr: int, n: int) -> np.ndarray:
    """Mono float64, the first ``n`` samples at ``sr``."""
    # A little past the cut, so the resampler's edge stays outside the clip.
    x = load_audio(s.path, sr=sr, end=n / sr + 0.05).samples
    if len(x) < n:
        raise DatasetError(f"{s.path}: {len(x)} samples after resampling, expected {n}")
    return x[:n].astype(np.float64)


@dataclass(frozen=True)
class _Event:
    signal: np.ndarray  # float64, trimmed, zero-mean, faded
    category: str
    rel: str  # path inside the ESC-50 folder
    src_t0: float  # where the trimmed part lies in the source file (seconds)
    src_t1: float
    next: int = 0  # position in the shuffled event list after this event


def _active_span(x: np.ndarray, sr: int) -> tuple[int, int] | None:
    """First to last sample of the frames within :data:`TRIM_DB` of the loudest frame."""
    frame = max(1, int(round(_FRAME_S * sr)))
    hop = max(1, int(round(_HOP_S * sr)))
    if len(x) < frame:
        starts = np.array([0])
        frame = len(x)
    else:
        starts = np.arange(0, len(x) - frame + 1, hop)
    c = np.concatenate(([0.0], np.cumsum(x.astype(np.float64) ** 2)))
    energy = c[starts + frame] - c[starts]
    peak = float(energy.max()) if len(energy) else 0.0
    if peak <= 0.0:
        return None
    active = np.flatnonzero(energy >= peak * 10.0 ** (-TRIM_DB / 10.0))
    a, b = int(starts[active[0]]), int(min(len(x), starts[active[-1]] + frame))
    # A frame that only grazes the event counts as active: tighten the span to the samples.
    loud = np.flatnonzero(np.abs(x[a:b]) >= np.max(np.abs(x)) * 10.0 ** (-TRIM_DB / 20.0))
    if len(loud) == 0:
        return a, b
    return a + int(loud[0]), a + int(loud[-1]) + 1


def _loudest_window(x: np.ndarray, length: int) -> int:
    c = np.concatenate(([0.0], np.cumsum(x.astype(np.float64) ** 2)))
    return int(np.argmax(c[length:] - c[:-length]))


def trim_event(x: np.ndarray, sr: int, max_len: int) -> tuple[np.ndarray, int, int] | None:
    """An event recording (float64 samples) as it is mixed in: its active span, at most its
    loudest ``max_len`` samples, zero mean, :data:`FADE_S` raised-cosine fades. Returns the
    samples and where they lie in ``x`` (first, end sample), or None for silence."""
    span = _active_span(x, sr)
    if span is None:
        return None  # digital silence: nothing to mix in
    a, b = span
    if b - a > max_len:
        a += _loudest_window(x[a:b], max_len)
        b = a + max_len
    ev = x[a:b] - np.mean(x[a:b])
    fade = min(int(round(FADE_S * sr)), len(ev) // 4)
    if fade > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)
        ev[:fade] *= ramp
        ev[-fade:] *= ramp[::-1]
    if not np.any(ev):
        return None
    return ev, a, b


def _prepare_event(path: Path, rel: str, category: str, sr: int, max_len: int) -> _Event | None:
    trimmed = trim_event(load_audio(path, sr=sr).samples.astype(np.float64), sr, max_len)
    if trimmed is None:
        return None
    ev, a, b = trimmed
    return _Event(ev, category, rel, a / sr, b / sr)


def _energy_band(x: np.ndarray, sr: int) -> tuple[float, float]:
    """Lower and upper edge (Hz) of the band holding the central BAND_ENERGY of ``x``'s energy."""
    nfft = _NFFT
    if len(x) < nfft:
        x = np.pad(x, (0, nfft - len(x)))
    hop = nfft // 2
    starts = np.arange(0, len(x) - nfft + 1, hop)
    window = np.hanning(nfft)
    frames = np.stack([x[s : s + nfft] for s in starts]) * window
    power = np.sum(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)
    cum = np.cumsum(power) / np.sum(power)
    tail = (1.0 - BAND_ENERGY) / 2.0
    lo = int(np.searchsorted(cum, tail, side="right"))
    hi = int(np.searchsorted(cum, 1.0 - tail, side="left"))
    df = sr / nfft
    f0 = max(0.0, (lo - 0.5) * df)
    f1 = min(sr / 2.0, (min(hi, len(cum) - 1) + 0.5) * df)
    return float(f0), float(f1)


def _next_event(
    esc: Path, esc_rows: list[tuple[int, dict]], event_order: np.ndarray, start: int, sr: int,
    max_len: int,
) -> _Event:
    """The next usable event of the seeded shuffle from position ``start`` (cycled); silent
    files are passed over. Its ``next`` is the position after it."""
    k = start
    for _ in range(len(esc_rows)):
        lineno, row = esc_rows[int(event_order[k % len(esc_rows)])]
        k += 1
        rel = f"audio/{row['filename']}"
        path = esc / rel
        if not path.is_file():
            raise DatasetError(
                f"ESC-50: expected {path} (listed in {esc / _ESC50_CSV}, line {lineno}); "
                "is the copy complete?"
            )
        event = _prepare_event(path, rel, row["category"], sr, max_len)
        if event is not None:
            return replace(event, next=k)
    raise DatasetError(f"{esc / _ESC50_CSV}: every listed event is silent")
