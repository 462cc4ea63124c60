"""EnvMix: environmental-sound anomaly datasets mixed from UrbanSound8K and ESC-50.

:func:`build_envmix` reads a user's local copies of the two corpora (they cannot be shipped) and
writes a dataset in the generic layout :func:`specview.datasets.load_dataset` reads::

    out/README.txt                                        what was built, and how
    out/train/normal_0000.wav ...                         background slices only
    out/train/meta.csv                                    provenance of the training clips
    out/test/normal_0000.wav ...                          background slices only
    out/test/anomaly_0000_dog_+6dB.wav ...                background + one ESC-50 event
    out/test/anomaly_0000_dog_+6dB.Table.1.selections.txt Raven box of the event
    out/test/sources/anomaly_0000_dog_+6dB.anomaly.wav    the scaled event alone
    out/test/sources/anomaly_0000_dog_+6dB.background.wav the background alone
    out/test/meta.csv                                     one row per test clip

Every file is a mono 32-bit float WAV at ``sr``, so nothing clips and ``mix == anomaly +
background`` exactly in float32.

Backgrounds
    UrbanSound8K slices of one class (e.g. ``air_conditioner``), mixed down to mono, resampled
    to ``sr`` and cut to their first ``clip_seconds``. Slices shorter than ``clip_seconds`` are
    left out, never padded or looped: padding adds silence and looping a seam, both of which a
    detector would learn to flag. A seeded shuffle sends ``round(train_fraction * n)`` slices to
    ``train/`` and the rest to ``test/``.

Events
    ``n_test // 2`` test clips (a seeded choice) get one ESC-50 clip each, drawn from a seeded
    shuffle of the events (cycled when there are fewer events than clips). Each event is
    trimmed to its active span: the 20 ms frames (5 ms hop) whose RMS level lies within
    :data:`TRIM_DB` dB of the loudest frame, from the first such frame to the last, tightened
    to the first and last sample within :data:`TRIM_DB` dB of the peak sample. An event
    longer than ``max_event_seconds`` keeps its loudest window of that length. The event's mean
    is removed and :data:`FADE_S` raised-cosine fades added at both ends (no clicks). It is
    placed at a random sample, at least :data:`EDGE_S` s from both clip ends.

Level
    The event-to-background ratio, the definition of :func:`specview.demo.event_to_background_db`::

        EBR = 10 * log10( sum(event[i0:i1]**2) / sum(background[i0:i1]**2) )   dB

    over the event's active span ``[t0, t1]`` (the whole trimmed event), full band; positive =
    the event is louder. Levels cycle through ``levels_db``; the event is scaled to hit the
    level exactly, and ``meta.csv`` records the value measured on the written float sources.

Box
    Time: the event's active span ``[t0, t1]``. Frequency: the band holding the central
    :data:`BAND_ENERGY` of the scaled event's energy, from a Hann-windowed average power
    spectrum (2048-point frames, half overlap): ``f0`` is the lower edge of the bin where the
    cumulative energy passes (1 - BAND_ENERGY) / 2, ``f1`` the upper edge of the bin where it
    passes (1 + BAND_ENERGY) / 2.

Reproducibility
    The same inputs and arguments give byte-identical files (no time stamps; each random
    choice draws from its own stream keyed by ``seed``).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import shutil
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from specview import fileio
from specview.annotations import RAVEN_SUFFIX, sidecar_path, write_raven
from specview.audio import audio_info, load_audio
from specview.datasets import META_FILE, Dataset, load_dataset
from specview.demo import event_to_background_db
from specview.errors import DatasetError, ParameterError
from specview.types import Box, Progress

__all__ = [
    "BAND_ENERGY",
    "EDGE_S",
    "FADE_S",
    "TRIM_DB",
    "EnvMixSummary",
    "build_envmix",
    "urbansound8k_classes",
]

#: Event frames within this many dB of the loudest frame make its active span.
TRIM_DB = 40.0
#: Share of the event's energy inside the box's frequency band.
BAND_ENERGY = 0.95
#: Events keep at least this far from both clip ends (seconds), where the clip allows.
EDGE_S = 0.25
#: Raised-cosine fade at both ends of every trimmed event (seconds).
FADE_S = 0.01

#: First line of README.txt; marks a folder a later build may replace.
_MARKER = "specview EnvMix dataset"
_US8K_CSV = Path("metadata") / "UrbanSound8K.csv"
_US8K_COLUMNS = ("slice_file_name", "fold", "class")
_ESC50_CSV = Path("meta") / "esc50.csv"
_ESC50_COLUMNS = ("filename", "category")
_TEST_COLUMNS = (
    "file", "label", "kind", "level_db", "t0", "t1", "f0", "f1", "background_class",
    "source_background", "source_event", "source_event_t0", "source_event_t1",
)
_TRAIN_COLUMNS = ("file", "background_class", "source_background")
_FRAME_S, _HOP_S = 0.02, 0.005
_NFFT = 2048
# Random streams: one per purpose, so that changing one count leaves the other draws alone.
_S_SPLIT, _S_ANOMALOUS, _S_EVENTS, _S_PLACE = 0, 1, 2, 3


@dataclass(frozen=True)
class EnvMixSummary:
    """What :func:`build_envmix` wrote.

    Attributes
    ----------
    root : Path
        The dataset folder.
    background_class : str
    seed : int
    sr : int, Hz
    clip_seconds : float, seconds
    levels_db : tuple of float, dB
    n_train, n_test_normal, n_test_anomalous : int
    n_short_skipped : int
        Background slices left out for being shorter than ``clip_seconds``.
    """

    root: Path
    background_class: str
    seed: int
    sr: int
    clip_seconds: float
    levels_db: tuple[float, ...]
    n_train: int
    n_test_normal: int
    n_test_anomalous: int
    n_short_skipped: int

    def dataset(self) -> Dataset:
        """The written dataset, read back with :func:`specview.datasets.load_dataset`."""
        return load_dataset(self.root)


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


# ---------------------------------------------------------------------------------------------
# Output folder
# ---------------------------------------------------------------------------------------------


def _is_generated(rel: Path) -> bool:
    """Whether a path inside the output folder is one a build writes."""
    parts = rel.parts
    name = rel.name
    if len(parts) == 1:
        return name in ("README.txt", "train", "test")
    if parts[0] == "train" and len(parts) == 2:
        return name.endswith(".wav") or name == META_FILE
    if parts[0] == "test" and len(parts) == 2:
        return name.endswith((".wav", RAVEN_SUFFIX)) or name in (META_FILE, "sources")
    if parts[:2] == ("test", "sources") and len(parts) == 3:
        return name.endswith((".anomaly.wav", ".background.wav"))
    return False


def _check_out(out: Path) -> None:
    """Refuse an output that is a file, or a non-empty folder that is not an EnvMix build."""
    if out.exists() and not out.is_dir():
        raise ParameterError(f"{out}: exists and is not a folder; choose a folder for the dataset")
    if not out.is_dir() or not any(out.iterdir()):
        return
    readme = out / "README.txt"
    ours = readme.is_file() and readme.read_text(encoding="utf-8", errors="replace").startswith(
        _MARKER
    )
    if not ours:
        raise ParameterError(
            f"{out}: folder is not empty and holds no EnvMix build; choose a new or empty folder"
        )
    manifest = fileio.read_manifest(out)
    if manifest is not None:  # a build that listed its files: any change is the user's
        changed, extra = fileio.tree_changes(out, manifest)
        if changed:
            raise ParameterError(
                f"{out}: holds an earlier EnvMix build whose files were changed since "
                f"({', '.join(changed[:3])}{', ...' if len(changed) > 3 else ''}); rebuilding "
                "would replace them, so nothing was done; move them away, or choose another "
                "folder"
            )
        foreign = [str(out / rel) for rel in extra]
    else:
        foreign = sorted(str(p) for p in out.rglob("*")
                         if not _is_generated(p.relative_to(out)))
    if foreign:
        raise ParameterError(
            f"{out}: holds an earlier EnvMix build plus other files ({', '.join(foreign[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}); move them away, or choose another folder"
        )


def _swap_in(tmp: Path, out: Path) -> None:
    """Put the finished build ``tmp`` at ``out``, replacing an empty folder or an earlier build."""
    if not out.exists():
        os.replace(tmp, out)
        return
    trash = fileio.make_temp_dir(out)
    old = trash / "old"
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(trash, ignore_errors=True)


def _write_float(path: Path, samples: np.ndarray, sr: int) -> None:
    """Mono 32-bit float WAV, plain RIFF (libsndfile's PEAK chunk holds a time stamp)."""
    data = np.ascontiguousarray(samples, dtype="<f4").tobytes()
    if len(data) > 0xFFFFFFFF - 64:
        raise ParameterError(f"{path}: {len(data)} bytes is too long for a WAV file")
    fmt = struct.pack("<HHIIHHH", 3, 1, sr, 4 * sr, 4, 32, 0)  # IEEE float, mono
    fact = struct.pack("<I", len(data) // 4)
    body = b"".join(
        (
            b"WAVE",
            b"fmt ", struct.pack("<I", len(fmt)), fmt,
            b"fact", struct.pack("<I", len(fact)), fact,
            b"data", struct.pack("<I", len(data)), data,
        )
    )
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def _csv_text(columns: Sequence[str], rows: list[tuple]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()


def _level_tag(level: float) -> str:
    return "0" if level == 0 else f"{level:+g}"


def _readme(s: EnvMixSummary, n_events: int, max_event_seconds: float) -> str:
    levels = ", ".join(_level_tag(x) for x in s.levels_db)
    return f"""{_MARKER} (built by specview.envmix from UrbanSound8K and ESC-50)

Background: UrbanSound8K class {s.background_class}, seed {s.seed}.
Clips: {s.sr} Hz mono float WAV, {s.clip_seconds:g} s (the first {s.clip_seconds:g} s of each slice;
{s.n_short_skipped} shorter slice(s) left out).
train/: {s.n_train} normal clips.
test/:  {s.n_test_normal} normal + {s.n_test_anomalous} anomalous clips, one ESC-50 event each
        (drawn from {n_events} candidate events).

Each anomalous clip test/<stem>.wav has
  test/<stem>{RAVEN_SUFFIX}    Raven box of the event
  test/sources/<stem>.anomaly.wav     the scaled event alone
  test/sources/<stem>.background.wav  the background alone (clip = anomaly + background)
test/meta.csv lists every test clip ({", ".join(_TEST_COLUMNS)});
train/meta.csv the source of every training clip.

Level: event-to-background ratio, EBR = 10*log10(E_event / E_background) in dB, both
energies summed over the event's active span [t0, t1], full band; positive = the event is
louder. Levels cycle through {levels} dB; meta.csv holds the value measured on the written
sources.

Events: trimmed to the 20 ms frames within {TRIM_DB:g} dB of the loudest frame, then to the
samples within {TRIM_DB:g} dB of the peak sample; at most {max_event_seconds:g} s (the loudest
window); zero-mean, {FADE_S * 1000:g} ms fades; at least {EDGE_S:g} s from the clip ends.
Box: [t0, t1] in time; in frequency the band holding the central {BAND_ENERGY:.0%} of the
event's energy.
"""


# ---------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------


def _check_args(
    seed: int, levels_db: Sequence[float], clip_seconds: float, train_fraction: float,
    sr: int, max_event_seconds: float | None,
) -> tuple[float, ...]:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(f"seed must be a whole number >= 0, got {seed!r}")
    if isinstance(sr, bool) or not isinstance(sr, int | np.integer) or sr < 8000:
        raise ParameterError(f"sample rate must be a whole number of Hz >= 8000, got {sr!r}")
    for name, v in (("clip_seconds", clip_seconds), ("max_event_seconds", max_event_seconds)):
        if v is None and name == "max_event_seconds":
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
            raise ParameterError(f"{name} must be a positive number of seconds, got {v!r}")
    if max_event_seconds is not None and max_event_seconds > clip_seconds:
        raise ParameterError(
            f"max_event_seconds {max_event_seconds!r} is longer than the clip "
            f"({clip_seconds!r} s); events must fit inside the clip"
        )
    if not isinstance(train_fraction, int | float) or not 0 < train_fraction < 1:
        raise ParameterError(
            f"train_fraction must lie strictly between 0 and 1, got {train_fraction!r}"
        )
    try:
        levels = tuple(float(x) for x in levels_db)
    except (TypeError, ValueError):
        raise ParameterError(f"levels_db must be numbers in dB, got {levels_db!r}") from None
    if not levels or not all(math.isfinite(x) for x in levels):
        raise ParameterError(f"levels_db must be one or more finite numbers, got {levels_db!r}")
    return levels


def build_envmix(
    urbansound8k: str | Path,
    esc50: str | Path,
    background: str,
    out: str | Path,
    *,
    seed: int = 0,
    levels_db: Sequence[float] = (6.0, 0.0, -6.0),
    clip_seconds: float = 4.0,
    train_fraction: float = 0.75,
    sr: int = 44100,
    event_classes: Sequence[str] | None = None,
    max_event_seconds: float | None = None,
    progress: Progress | None = None,
) -> EnvMixSummary:
    """Mix UrbanSound8K backgrounds and ESC-50 events into an anomaly dataset at ``out``.

    Parameters
    ----------
    urbansound8k : str or Path
        The UrbanSound8K folder: ``audio/fold1..fold10/*.wav`` and
        ``metadata/UrbanSound8K.csv``.
    esc50 : str or Path
        The ESC-50 folder: ``audio/*.wav`` and ``meta/esc50.csv``.
    background : str
        UrbanSound8K class of the normal sound, e.g. ``"air_conditioner"``.
    out : str or Path
        Dataset folder to write: new, empty, or an earlier EnvMix build (replaced whole).
    seed : int
        Non-negative; the same inputs and arguments give byte-identical files.
    levels_db : sequence of float, dB
        Event-to-background ratios the anomalous clips cycle through.
    clip_seconds : float, seconds
        Length of every clip; shorter background slices are left out.
    train_fraction : float
        Share of the usable slices that go to ``train/`` (rounded), strictly between 0 and 1.
    sr : int, Hz
        Sample rate of the written files.
    event_classes : sequence of str, optional
        ESC-50 categories to draw events from; all by default.
    max_event_seconds : float, seconds, optional
        Longest event (its loudest window is kept); ``clip_seconds / 2`` by default.
    progress : callable ``(done, total)``, optional
        Called after each written clip; may raise :class:`specview.errors.Cancelled`.

    Returns
    -------
    EnvMixSummary

    Raises
    ------
    DatasetError
        A missing input folder, metadata file or listed audio file (naming where it was
        expected), an unknown background or event class (listing the valid ones), or too few
        usable slices.
    ParameterError
        Bad arguments, or an ``out`` that is a file or a folder holding other files.

    Notes
    -----
    The build is written into a hidden sibling folder and moved to ``out`` only when complete;
    on any error (or cancellation) it is removed and ``out`` is left as it was.
    """
    levels = _check_args(seed, levels_db, clip_seconds, train_fraction, sr, max_event_seconds)
    seed, sr, clip_seconds = int(seed), int(sr), float(clip_seconds)
    max_event_seconds = clip_seconds / 2 if max_event_seconds is None else float(max_event_seconds)
    us8k, esc, out = Path(urbansound8k), Path(esc50), Path(out)

    slices, n_short = _background_slices(us8k, background, clip_seconds)
    esc_rows = _esc50_rows(esc)
    categories = sorted({r["category"] for _, r in esc_rows})
    if event_classes is not None:
        wanted = [event_classes] if isinstance(event_classes, str) else list(event_classes)
        unknown = [c for c in wanted if c not in categories]
        if unknown or not wanted:
            raise DatasetError(
                f"unknown ESC-50 event class(es) {unknown or wanted!r}; choose from "
                f"{', '.join(categories)}"
            )
        esc_rows = [(n, r) for n, r in esc_rows if r["category"] in wanted]
    if not esc_rows:
        raise DatasetError(f"{esc / _ESC50_CSV}: lists no events")
    esc_rows.sort(key=lambda x: x[1]["filename"])

    n_all = len(slices)
    n_train = int(round(train_fraction * n_all))
    n_test = n_all - n_train
    if n_train < 1 or n_test < 2:
        raise DatasetError(
            f"UrbanSound8K class {background!r} has {n_all} slice(s) of at least "
            f"{clip_seconds:g} s ({n_short} shorter left out); with train_fraction "
            f"{train_fraction:g} that gives {n_train} training and {n_test} test clip(s), but "
            "at least 1 and 2 are needed; choose another class or a shorter clip_seconds"
        )
    order = np.random.default_rng([seed, _S_SPLIT]).permutation(n_all)
    train_idx = sorted(int(i) for i in order[:n_train])
    test_idx = sorted(int(i) for i in order[n_train:])
    n_anom = n_test // 2
    chosen = np.random.default_rng([seed, _S_ANOMALOUS]).choice(n_test, n_anom, replace=False)
    anom_pos = {int(i) for i in chosen}
    event_order = np.random.default_rng([seed, _S_EVENTS]).permutation(len(esc_rows))

    _check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # built in a hidden folder beside ``out`` (``0777`` less the umask; if the build is
    # killed, the next write beside it removes it) and swapped in whole when complete
    tmp = fileio.make_temp_dir(out)
    try:
        summary = _write_build(
            tmp, us8k, esc, background, slices, train_idx, test_idx, anom_pos, esc_rows,
            event_order, levels, seed, sr, clip_seconds, max_event_seconds, n_short, progress,
        )
        files = {p.relative_to(tmp).as_posix(): fileio.sha256_file(p)
                 for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / fileio.MANIFEST_NAME).write_text(fileio.manifest_text(files), encoding="utf-8",
                                                newline="")
        _check_out(out)  # nothing may have appeared there meanwhile
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return replace(summary, root=out)


def _write_build(
    tmp: Path, us8k: Path, esc: Path, background: str, slices: list[_Slice],
    train_idx: list[int], test_idx: list[int], anom_pos: set[int],
    esc_rows: list[tuple[int, dict]], event_order: np.ndarray, levels: tuple[float, ...],
    seed: int, sr: int, clip_seconds: float, max_event_seconds: float, n_short: int,
    progress: Callable[[int, int], None] | None,
) -> EnvMixSummary:
    n = int(round(clip_seconds * sr))
    max_len = min(int(round(max_event_seconds * sr)), n)
    total = len(train_idx) + len(test_idx)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    def width(count: int) -> int:
        return max(4, len(str(max(count - 1, 0))))

    (tmp / "train").mkdir()
    (tmp / "test" / "sources").mkdir(parents=True)
    train_rows = []
    for k, i in enumerate(train_idx):
        name = f"normal_{k:0{width(len(train_idx))}d}.wav"
        _write_float(tmp / "train" / name, _load_background(slices[i], sr, n), sr)
        train_rows.append((name, background, slices[i].rel))
        tick()

    n_anom = len(anom_pos)
    w_norm, w_anom = width(len(test_idx) - n_anom), width(n_anom)
    test_rows = []
    next_event = 0
    k_norm = k_anom = 0
    for pos, i in enumerate(test_idx):
        s = slices[i]
        bg = _load_background(s, sr, n)
        if pos not in anom_pos:
            name = f"normal_{k_norm:0{w_norm}d}.wav"
            _write_float(tmp / "test" / name, bg, sr)
            test_rows.append((name, 0, "", "", "", "", "", "", background, s.rel, "", "", ""))
            k_norm += 1
            tick()
            continue
        # The next usable event of the seeded shuffle (cycled); silent files are passed over.
        for _ in range(len(esc_rows)):
            lineno, row = esc_rows[int(event_order[next_event % len(esc_rows)])]
            next_event += 1
            rel = f"audio/{row['filename']}"
            path = esc / rel
            if not path.is_file():
                raise DatasetError(
                    f"ESC-50: expected {path} (listed in {esc / _ESC50_CSV}, line {lineno}); "
                    "is the copy complete?"
                )
            event = _prepare_event(path, rel, row["category"], sr, max_len)
            if event is not None:
                break
        else:
            raise DatasetError(f"{esc / _ESC50_CSV}: every listed event is silent")
        level = levels[k_anom % len(levels)]
        rng = np.random.default_rng([seed, _S_PLACE, k_anom])
        mix, anomaly, bg32, t0, t1 = _mix(bg, event.signal, level, rng, sr, s)
        measured = event_to_background_db(anomaly, bg32, sr, t0, t1)
        span = anomaly[int(round(t0 * sr)) : int(round(t1 * sr))]
        f0, f1 = (round(f, 3) for f in _energy_band(span.astype(np.float64), sr))
        tag = re.sub(r"[^A-Za-z0-9_-]+", "-", event.category)
        stem = f"anomaly_{k_anom:0{w_anom}d}_{tag}_{_level_tag(level)}dB"
        _write_float(tmp / "test" / f"{stem}.wav", mix, sr)
        _write_float(tmp / "test" / "sources" / f"{stem}.anomaly.wav", anomaly, sr)
        _write_float(tmp / "test" / "sources" / f"{stem}.background.wav", bg32, sr)
        box = Box(t0, t1, f0, f1, event.category)
        write_raven(sidecar_path(tmp / "test" / f"{stem}.wav"), [box])
        test_rows.append(
            (
                f"{stem}.wav", 1, event.category, f"{round(measured, 4) + 0.0:.4f}",
                repr(t0), repr(t1), repr(f0), repr(f1), background,
                s.rel, event.rel, repr(round(event.src_t0, 6)), repr(round(event.src_t1, 6)),
            )
        )
        k_anom += 1
        tick()

    (tmp / "train" / META_FILE).write_text(
        _csv_text(_TRAIN_COLUMNS, train_rows), encoding="utf-8", newline=""
    )
    (tmp / "test" / META_FILE).write_text(
        _csv_text(_TEST_COLUMNS, test_rows), encoding="utf-8", newline=""
    )
    summary = EnvMixSummary(
        root=tmp, background_class=background, seed=seed, sr=sr, clip_seconds=clip_seconds,
        levels_db=levels, n_train=len(train_idx), n_test_normal=len(test_idx) - n_anom,
        n_test_anomalous=n_anom, n_short_skipped=n_short,
    )
    (tmp / "README.txt").write_text(
        _readme(summary, len(esc_rows), max_event_seconds), encoding="utf-8", newline=""
    )
    return summary


def _mix(
    bg: np.ndarray, event: np.ndarray, level: float, rng: np.random.Generator, sr: int,
    s: _Slice,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Place and scale ``event`` on ``bg``: float32 mix, anomaly and background, and the span."""
    n, length = len(bg), len(event)
    bg32 = bg.astype(np.float32)
    edge = min(math.ceil(EDGE_S * sr), (n - length) // 2)
    for _ in range(20):
        start = int(rng.integers(edge, n - length - edge + 1))
        e_bg = float(np.sum(bg32[start : start + length].astype(np.float64) ** 2))
        if e_bg > 0.0:
            break
    else:
        raise DatasetError(
            f"{s.path}: the background is digitally silent where events go, so no level can "
            "be set; remove this slice from the copy or choose another class"
        )
    gain = math.sqrt(e_bg / float(np.sum(event**2)) * 10.0 ** (level / 10.0))
    anomaly = np.zeros(n, dtype=np.float32)
    anomaly[start : start + length] = (event * gain).astype(np.float32)
    mix = bg32 + anomaly  # float32 sum: mix == anomaly + background exactly
    return mix, anomaly, bg32, start / sr, (start + length) / sr

