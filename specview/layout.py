"""The folder layout of a generated anomaly dataset, written one way for every generator.

:mod:`specview.demo` (synthetic machine sounds) and :mod:`specview.envmix` (UrbanSound8K
backgrounds with ESC-50 events) both write the layout :func:`specview.datasets.load_dataset`
reads::

    out/README.txt
    out/train/normal_000.wav ...                       normal clips
    out/train/meta.csv                                 (optional) provenance of the clips
    out/test/normal_000.wav ...
    out/test/anomaly_003_whine_-6dB.wav ...            background + one event
    out/test/anomaly_003_whine_-6dB.Table.1.selections.txt   Raven box of the event
    out/test/sources/anomaly_003_whine_-6dB.background.wav   float WAV
    out/test/sources/anomaly_003_whine_-6dB.anomaly.wav      float WAV, = clip - background
    out/test/meta.csv                                  one row per test clip
    out/.specview-files.json                           what was written (SHA-256)

:class:`DatasetWriter` writes these files and keeps the manifest of what it wrote. It writes
either through a :class:`specview.fileio.OutputSet` (a :func:`specview.fileio.staged` run:
every file goes to a temporary beside its target and all are put in place together) or
straight into a private folder that is swapped in whole when complete (:func:`build_in_temp`).

Level
-----
The event-to-background ratio of an anomalous clip (:func:`event_to_background_db`)::

    EBR = 10 * log10( sum(anomaly[i0:i1]**2) / sum(background[i0:i1]**2) )   dB

with ``i0 = round(t0 * sr)``, ``i1 = round(t1 * sr)`` the samples of the event's span, full
band. File names carry the nominal level as ``+6dB``, ``0dB``, ``-6dB`` (:func:`level_tag`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from specview import fileio
from specview.annotations import sidecar_path, write_raven
from specview.audio import write_audio
from specview.datasets import META_FILE
from specview.errors import ParameterError
from specview.types import Box, Progress

__all__ = [
    "DatasetWriter",
    "ExistingFolder",
    "anomaly_stem",
    "build_in_temp",
    "csv_text",
    "event_to_background_db",
    "existing_folder",
    "float_wav_bytes",
    "index_width",
    "level_tag",
    "name_list",
    "swap_in",
    "write_float_wav",
]

README = "README.txt"


# ---------------------------------------------------------------------------------------------
# Names, levels, tables
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


def level_tag(level_db: float) -> str:
    """The level as file names carry it: ``+6``, ``0``, ``-6``, ``-12.5`` (dB)."""
    return "0" if level_db == 0 else f"{level_db:+g}"


def index_width(count: int, minimum: int) -> int:
    """Digits of the zero-padded clip numbers ``0 .. count - 1``, at least ``minimum``."""
    return max(minimum, len(str(max(count - 1, 0))))


def anomaly_stem(index: int, width: int, kind: str, level_db: float) -> str:
    """``anomaly_<index>_<kind>_<level>dB``: the file stem of an anomalous test clip."""
    return f"anomaly_{index:0{width}d}_{kind}_{level_tag(level_db)}dB"


def csv_text(columns: Sequence[str], rows: Iterable[tuple]) -> str:
    """A ``meta.csv``: header and rows, ``\\n`` line ends."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()


def name_list(names: Sequence[str], n: int = 3) -> str:
    """The first ``n`` of ``names`` for a message, and how many more there are."""
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


# ---------------------------------------------------------------------------------------------
# WAV
# ---------------------------------------------------------------------------------------------


def float_wav_bytes(path: str | Path, samples: np.ndarray, sr: int) -> bytes:
    """Mono 32-bit float WAV (what soundfile calls subtype FLOAT), byte-reproducibly.

    libsndfile adds a PEAK chunk with a time stamp to float WAV files, so two runs would differ
    in a few header bytes; this builds the plain RIFF layout itself instead. ``path`` only
    names the file in the error for data too long for a WAV file.
    """
    data = np.ascontiguousarray(samples, dtype="<f4").tobytes()
    if len(data) > 0xFFFFFFFF - 64:
        raise ParameterError(f"{path}: {len(data)} bytes is too long for a WAV file")
    # WAVE_FORMAT_IEEE_FLOAT, 1 channel, sr, bytes/s, block align, bits, cbSize
    fmt = struct.pack("<HHIIHHH", 3, 1, sr, 4 * sr, 4, 32, 0)
    fact = struct.pack("<I", len(data) // 4)  # non-PCM formats carry a sample count
    body = b"".join(
        (
            b"WAVE",
            b"fmt ", struct.pack("<I", len(fmt)), fmt,
            b"fact", struct.pack("<I", len(fact)), fact,
            b"data", struct.pack("<I", len(data)), data,
        )
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def write_float_wav(path: str | Path, samples: np.ndarray, sr: int) -> None:
    """Write :func:`float_wav_bytes` to ``path`` directly (inside a private build folder)."""
    Path(path).write_bytes(float_wav_bytes(path, samples, sr))


# ---------------------------------------------------------------------------------------------
# The writer
# ---------------------------------------------------------------------------------------------


class DatasetWriter:
    """Writes the files of one dataset folder and lists them for its manifest.

    Parameters
    ----------
    root : Path
        The dataset folder (for a build in a private folder: that folder).
    sr : int, Hz
        Sample rate of every WAV file.
    clips : {"pcm16", "float"}
        Format of the clips in ``train/`` and ``test/``: 16-bit PCM or 32-bit float. The
        sources in ``test/sources/`` are always float.
    outputs : OutputSet, optional
        Write through it (staged beside the targets). Without it files are written straight
        into ``root``, which must then be a folder only this build sees.
    old : dict, optional
        The manifest of the dataset this one replaces (``{relative path: sha256}``).
    keep_changed : bool
        With ``outputs``: a file that exists and differs both from what is written now and
        from ``old`` (the user changed it) is left as it is.
    total : int
        Clips to write, for ``progress``.
    progress : callable ``(done, total)``, optional
        Called by :meth:`tick`, after each clip; may raise to cancel.
    """

    def __init__(
        self,
        root: Path,
        sr: int,
        *,
        clips: str = "pcm16",
        outputs: fileio.OutputSet | None = None,
        old: dict[str, str] | None = None,
        keep_changed: bool = False,
        total: int = 0,
        progress: Progress | None = None,
    ) -> None:
        if clips not in ("pcm16", "float"):
            raise ValueError(f"clips must be 'pcm16' or 'float', got {clips!r}")
        self.root = Path(root)
        self.sr = sr
        self.clips = clips
        self.outputs = outputs
        self.old = dict(old or {})
        self.keep_changed = keep_changed
        self.total = total
        self.done = 0
        self.progress = progress
        #: relative posix path -> SHA-256 of what was generated
        self.written: dict[str, str] = {}
        if outputs is None:  # a private folder: the layout's folders exist from the start
            (self.root / "train").mkdir(parents=True, exist_ok=True)
            (self.root / "test" / "sources").mkdir(parents=True, exist_ok=True)

    # -- single files -------------------------------------------------------------------------

    def _record(self, target: Path) -> None:
        staged = self.outputs.temp_of(target) if self.outputs is not None else None
        digest = fileio.sha256_file(staged if staged is not None else target)
        rel = target.relative_to(self.root).as_posix()
        self.written[rel] = digest
        if self.outputs is None or not self.keep_changed or not os.path.lexists(target):
            return
        try:
            current = fileio.sha256_file(target) if target.is_file() else None
        except OSError:
            current = None
        if current != digest and current != self.old.get(rel):
            self.outputs.discard(target)  # the user's version stays

    def write_bytes(self, target: Path, data: bytes) -> Path:
        if self.outputs is not None:
            self.outputs.write_bytes(target, data)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        self._record(target)
        return target

    def write_text(self, target: Path, text: str) -> Path:
        """UTF-8, line ends as given."""
        if self.outputs is not None:
            fileio.atomic_write_text(target, text, newline="")  # joins the staged outputs
            self._record(target)
            return target
        return self.write_bytes(target, text.encode("utf-8"))

    def write_float(self, target: Path, samples: np.ndarray) -> Path:
        return self.write_bytes(target, float_wav_bytes(target, samples, self.sr))

    def write_pcm(self, target: Path, samples: np.ndarray) -> Path:
        """16-bit PCM WAV (:func:`specview.audio.write_audio`)."""
        if self.outputs is not None:
            with self.outputs.output(target) as tmp:  # tmp ends in .wav
                write_audio(tmp, samples, self.sr)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_audio(target, samples, self.sr)
        self._record(target)
        return target

    def write_clip(self, target: Path, samples: np.ndarray) -> Path:
        """A clip in the writer's clip format."""
        if self.clips == "float":
            return self.write_float(target, samples)
        return self.write_pcm(target, samples)

    def write_boxes(self, clip: Path, boxes: Sequence[Box]) -> Path:
        """The Raven selection table beside ``clip``."""
        target = sidecar_path(clip)
        write_raven(target, list(boxes))  # inside a staged run it joins the outputs
        self._record(target)
        return target

    # -- the layout ---------------------------------------------------------------------------

    def train_clip(self, name: str, samples: np.ndarray) -> Path:
        """``train/<name>``."""
        return self.write_clip(self.root / "train" / name, samples)

    def test_clip(self, name: str, samples: np.ndarray) -> Path:
        """``test/<name>``: a normal test clip."""
        return self.write_clip(self.root / "test" / name, samples)

    def anomalous_clip(
        self, stem: str, mix: np.ndarray, anomaly: np.ndarray, background: np.ndarray, box: Box
    ) -> Path:
        """``test/<stem>.wav``, its sources ``test/sources/<stem>.anomaly.wav`` and
        ``.background.wav`` (float) and its Raven sidecar with ``box``; returns the clip."""
        clip = self.write_clip(self.root / "test" / f"{stem}.wav", mix)
        sources = self.root / "test" / "sources"
        self.write_float(sources / f"{stem}.anomaly.wav", anomaly)
        self.write_float(sources / f"{stem}.background.wav", background)
        self.write_boxes(clip, [box])
        return clip

    def meta(self, group: str, columns: Sequence[str], rows: Iterable[tuple]) -> Path:
        """``<group>/meta.csv``."""
        return self.write_text(self.root / group / META_FILE, csv_text(columns, rows))

    def readme(self, text: str) -> Path:
        return self.write_text(self.root / README, text)

    def tick(self) -> None:
        """One more clip written: report progress."""
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)

    def finish(self) -> None:
        """Write the manifest; in a staged run also remove, on commit, the files of ``old``
        that this run did not write, where they are still unchanged."""
        text = fileio.manifest_text(self.written)
        if self.outputs is None:
            (self.root / fileio.MANIFEST_NAME).write_bytes(text.encode("utf-8"))
            return
        for rel, digest in self.old.items():
            if rel not in self.written:
                self.outputs.delete_on_commit(self.root / rel, sha256=digest)
        # lists what was generated, also where the user's version was kept
        fileio.atomic_write_text(self.root / fileio.MANIFEST_NAME, text)


# ---------------------------------------------------------------------------------------------
# The output folder
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExistingFolder:
    """A folder that is not empty, where a dataset is to be written.

    Attributes
    ----------
    root : Path
    manifest : dict or None
        Its manifest (:func:`specview.fileio.read_manifest`); None without one.
    marked : bool
        Whether its README starts with the generator's marker line.
    """

    root: Path
    manifest: dict[str, str] | None
    marked: bool

    def changes(self, *, ignore: Iterable[str] = ()) -> tuple[list[str], list[str]]:
        """``(changed, foreign)`` against the manifest (:func:`specview.fileio.tree_changes`)."""
        return fileio.tree_changes(self.root, self.manifest or {}, ignore=ignore)


def existing_folder(out: Path, marker: str) -> ExistingFolder | None:
    """What is at ``out``: None for nothing or an empty folder.

    Raises
    ------
    ParameterError
        ``out`` exists and is not a folder.
    """
    if os.path.lexists(out) and not out.is_dir():
        raise ParameterError(f"{out}: exists and is not a folder; choose a folder for the dataset")
    if not out.is_dir() or not any(out.iterdir()):
        return None
    readme = out / README
    marked = readme.is_file() and readme.read_text(
        encoding="utf-8", errors="replace"
    ).startswith(marker)
    return ExistingFolder(out, fileio.read_manifest(out), marked)


def swap_in(tmp: Path, out: Path) -> None:
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


@contextlib.contextmanager
def build_in_temp(out: Path, *, recheck=None) -> Iterator[Path]:
    """A private folder beside ``out`` to build a dataset in, swapped in whole when the block
    succeeds (after ``recheck(out)``, which may refuse what appeared there meanwhile) and
    removed when it raises.

    The folder is made by :func:`specview.fileio.make_temp_dir` (``0777`` less the umask); if
    the build is killed, the next write beside it removes it.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = fileio.make_temp_dir(out)
    try:
        yield tmp
        if recheck is not None:
            recheck(out)
        swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
