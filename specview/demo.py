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
With ``keep_changed`` (the GUI's cached demo, :func:`specview.demo_cache.ensure_demo`) nothing is
refused and nothing the user changed is replaced: only missing and unchanged files are written.

Machines (:data:`MACHINES`, :mod:`specview.demo_machines`)
----------------------------------------------------------
fan, pump, valve and engine; each dataset plays one unit (its nominal speed, blade count and
resonances drawn once from the seed), and every clip varies it: speed +-5 %, load (harmonic
and noise levels), gain +-3 dB, random phases, slow drift of speed and level within the clip.

Anomalies (:mod:`specview.demo_anomalies`, which describes each)
-----------------------------------------------------------------
impact, whine, rattle, friction and dropout: one per anomalous clip, inside its box, at least
0.3 s from the clip ends.

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

import inspect
import math
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from specview import fileio, layout
from specview.annotations import RAVEN_SUFFIX
from specview.demo_anomalies import ANOMALY_KINDS, EDGE_S, _anomalous_mix
from specview.demo_machines import MACHINES, MachineType, _db
from specview.errors import ParameterError
from specview.layout import event_to_background_db
from specview.types import Progress

__all__ = [
    "ANOMALY_KINDS",
    "LEVELS_DB",
    "MACHINES",
    "MachineType",
    "event_to_background_db",
    "make_demo_data",
    "make_demo_dataset",
]

LEVELS_DB = (6.0, 0.0, -6.0)

#: Peak of a normal clip before its random gain; with the +-3 dB gain peaks lie in 0.21-0.42.
_REF_PEAK = 0.3
_GAIN_DB = 3.0
#: Anomalous mixes whose peak would pass this are scaled down as a whole (EBR unchanged).
_MAX_PEAK = 0.95
#: Lowest sample rate: the anomaly bands reach 8 kHz.
_MIN_SR = 16000
_MIN_DURATION = 1.0
#: First line of the README; marks a folder this module may regenerate in place.
_MARKER = "specview demo dataset"
_META_COLUMNS = ("file", "label", "kind", "level_db", "t0", "t1", "f0", "f1", "machine")

# Seed groups: keeps each clip's stream independent of how many clips the other groups hold.
_G_UNIT, _G_TRAIN, _G_TEST_NORMAL, _G_TEST_ANOMALY = 0, 1, 2, 3


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


#: Written by :func:`specview.demo_cache.ensure_demo` beside the dataset; not a changed file.
_FLAG = ".complete"


def _check_target(out: Path, *, force: bool, keep_changed: bool) -> dict[str, str]:
    """Check that ``out`` may be (re)generated; return its manifest (``{}`` when none).

    See "Regenerating never loses an edit" in the module notes.
    """
    found = layout.existing_folder(out, _MARKER)
    if found is None:
        return {}
    manifest = found.manifest
    if force or keep_changed:
        return manifest or {}
    if manifest is None:
        if found.marked:
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
    changed, foreign = found.changes(ignore=[_FLAG])
    if changed or foreign:
        what = "; ".join(
            part for part in (
                f"changed since it was generated: {layout.name_list(changed)}" if changed else "",
                f"not written by specview: {layout.name_list(foreign)}" if foreign else "",
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
    w = layout.DatasetWriter(
        out, sr, clips="pcm16", outputs=outputs, old=old, keep_changed=keep_changed,
        total=n_train + n_test_normal + n_test_anomalous, progress=progress,
    )
    w.readme(_readme(machine, seed, n_train, n_test_normal, n_test_anomalous, duration, sr))
    spec = MACHINES[machine]
    unit = spec.draw_unit(_clip_rng(seed, machine, _G_UNIT, 0))
    n = int(round(duration * sr))

    width = layout.index_width(n_train, 3)
    for i in range(n_train):
        x = _background(spec, unit, _clip_rng(seed, machine, _G_TRAIN, i), n, sr)
        w.train_clip(f"normal_{i:0{width}d}.wav", x)
        w.tick()

    rows: list[tuple] = []
    width = layout.index_width(n_test_normal, 3)
    for i in range(n_test_normal):
        x = _background(spec, unit, _clip_rng(seed, machine, _G_TEST_NORMAL, i), n, sr)
        name = f"normal_{i:0{width}d}.wav"
        w.test_clip(name, x)
        rows.append((name, 0, "", "", "", "", "", "", machine))
        w.tick()

    width = layout.index_width(n_test_anomalous, 3)
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
        bg32 = bg.astype(np.float32)
        # The anomaly is defined as mix - background (so a dropout's source is the negative
        # removed part): the two float sources sum to the mix to float precision, and to the
        # 16-bit clip within its quantisation, while the anomaly stays exactly 0 outside its span.
        anom32 = (mix - bg).astype(np.float32)
        clip = w.anomalous_clip(layout.anomaly_stem(i, width, kind, level), mix, anom32, bg32, box)
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
        w.tick()

    w.meta("test", _META_COLUMNS, rows)
    w.finish()


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
