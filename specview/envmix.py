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
    The event-to-background ratio (:func:`specview.layout.event_to_background_db`)::

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

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from specview import layout
from specview.annotations import RAVEN_SUFFIX
from specview.datasets import META_FILE, Dataset, load_dataset
from specview.envmix_sources import (
    _ESC50_CSV,
    BAND_ENERGY,
    FADE_S,
    TRIM_DB,
    _active_span,  # noqa: F401  (bench/realdata.py names it)
    _background_slices,
    _energy_band,
    _esc50_rows,
    _load_background,
    _next_event,
    _Slice,
    trim_event,
    urbansound8k_classes,
)
from specview.errors import DatasetError, ParameterError
from specview.layout import event_to_background_db
from specview.types import Box, Progress

__all__ = [
    "BAND_ENERGY",
    "EDGE_S",
    "FADE_S",
    "TRIM_DB",
    "EnvMixSummary",
    "build_envmix",
    "trim_event",
    "urbansound8k_classes",
]

#: Events keep at least this far from both clip ends (seconds), where the clip allows.
EDGE_S = 0.25

#: First line of README.txt; marks a folder a later build may replace.
_MARKER = "specview EnvMix dataset"
_TEST_COLUMNS = (
    "file", "label", "kind", "level_db", "t0", "t1", "f0", "f1", "background_class",
    "source_background", "source_event", "source_event_t0", "source_event_t1",
)
_TRAIN_COLUMNS = ("file", "background_class", "source_background")
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
    found = layout.existing_folder(out, _MARKER)
    if found is None:
        return
    if not found.marked:
        raise ParameterError(
            f"{out}: folder is not empty and holds no EnvMix build; choose a new or empty folder"
        )
    if found.manifest is not None:  # a build that listed its files: any change is the user's
        changed, extra = found.changes()
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


# The layout writer's helpers under their earlier names (bench/realdata.py uses them).
_swap_in = layout.swap_in
_write_float = layout.write_float_wav
_csv_text = layout.csv_text
_level_tag = layout.level_tag


def _readme(s: EnvMixSummary, n_events: int, max_event_seconds: float) -> str:
    levels = ", ".join(layout.level_tag(x) for x in s.levels_db)
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
    # built in a private folder beside ``out`` and swapped in whole when complete (after
    # checking again that nothing appeared there meanwhile)
    with layout.build_in_temp(out, recheck=_check_out) as tmp:
        summary = _write_build(
            tmp, us8k, esc, background, slices, train_idx, test_idx, anom_pos, esc_rows,
            event_order, levels, seed, sr, clip_seconds, max_event_seconds, n_short, progress,
        )
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
    w = layout.DatasetWriter(tmp, sr, clips="float", total=len(train_idx) + len(test_idx),
                             progress=progress)
    train_rows = []
    width = layout.index_width(len(train_idx), 4)
    for k, i in enumerate(train_idx):
        name = f"normal_{k:0{width}d}.wav"
        w.train_clip(name, _load_background(slices[i], sr, n))
        train_rows.append((name, background, slices[i].rel))
        w.tick()

    n_anom = len(anom_pos)
    w_norm, w_anom = layout.index_width(len(test_idx) - n_anom, 4), layout.index_width(n_anom, 4)
    test_rows = []
    next_event = 0
    k_norm = k_anom = 0
    for pos, i in enumerate(test_idx):
        s = slices[i]
        bg = _load_background(s, sr, n)
        if pos not in anom_pos:
            name = f"normal_{k_norm:0{w_norm}d}.wav"
            w.test_clip(name, bg)
            test_rows.append((name, 0, "", "", "", "", "", "", background, s.rel, "", "", ""))
            k_norm += 1
            w.tick()
            continue
        event = _next_event(esc, esc_rows, event_order, next_event, sr, max_len)
        next_event = event.next
        level = levels[k_anom % len(levels)]
        rng = np.random.default_rng([seed, _S_PLACE, k_anom])
        mix, anomaly, bg32, t0, t1 = _mix(bg, event.signal, level, rng, sr, s)
        measured = event_to_background_db(anomaly, bg32, sr, t0, t1)
        span = anomaly[int(round(t0 * sr)) : int(round(t1 * sr))]
        f0, f1 = (round(f, 3) for f in _energy_band(span.astype(np.float64), sr))
        tag = re.sub(r"[^A-Za-z0-9_-]+", "-", event.category)
        stem = layout.anomaly_stem(k_anom, w_anom, tag, level)
        w.anomalous_clip(stem, mix, anomaly, bg32, Box(t0, t1, f0, f1, event.category))
        test_rows.append(
            (
                f"{stem}.wav", 1, event.category, f"{round(measured, 4) + 0.0:.4f}",
                repr(t0), repr(t1), repr(f0), repr(f1), background,
                s.rel, event.rel, repr(round(event.src_t0, 6)), repr(round(event.src_t1, 6)),
            )
        )
        k_anom += 1
        w.tick()

    w.meta("train", _TRAIN_COLUMNS, train_rows)
    w.meta("test", _TEST_COLUMNS, test_rows)
    summary = EnvMixSummary(
        root=tmp, background_class=background, seed=seed, sr=sr, clip_seconds=clip_seconds,
        levels_db=levels, n_train=len(train_idx), n_test_normal=len(test_idx) - n_anom,
        n_test_anomalous=n_anom, n_short_skipped=n_short,
    )
    w.readme(_readme(summary, len(esc_rows), max_event_seconds))
    w.finish()
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

