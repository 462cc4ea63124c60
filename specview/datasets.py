"""The folder layout every command reads.

``DATASET/train/*`` holds normal recordings only; ``DATASET/test/*`` holds recordings whose names
contain ``normal`` or ``anomaly`` (DCASE convention). Beside a test clip there may be a Raven
sidecar ``<stem>.Table.1.selections.txt`` with ground-truth boxes, and isolated sources
``test/sources/<stem>.anomaly.<ext>`` / ``<stem>.background.<ext>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from specview.annotations import read_raven, sidecar_path
from specview.audio import AUDIO_SUFFIXES, is_audio_file
from specview.errors import DatasetError
from specview.types import Box

_ANOMALY = re.compile(r"anomal|abnormal", re.IGNORECASE)
_NORMAL = re.compile(r"normal", re.IGNORECASE)


@dataclass(frozen=True)
class TestClip:
    """One test recording and what is known about it."""

    path: Path
    label: int | None  # 1 anomalous, 0 normal, None unknown
    boxes_path: Path | None = None
    anomaly_source: Path | None = None
    background_source: Path | None = None

    def boxes(self) -> list[Box]:
        """Ground-truth boxes from the sidecar (empty when there is none)."""
        return read_raven(self.boxes_path) if self.boxes_path else []


@dataclass(frozen=True)
class Dataset:
    root: Path
    train: list[Path] = field(default_factory=list)
    test: list[TestClip] = field(default_factory=list)


def label_from_name(name: str) -> int | None:
    """1 for names containing ``anomaly``/``abnormal``, 0 for ``normal``, else None."""
    if _ANOMALY.search(name):
        return 1
    if _NORMAL.search(name):
        return 0
    return None


def list_audio(folder: Path) -> list[Path]:
    """Audio files directly inside ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if is_audio_file(p))


def _source(folder: Path, stem: str, kind: str) -> Path | None:
    for ext in AUDIO_SUFFIXES:
        p = folder / f"{stem}.{kind}{ext}"
        if p.is_file():
            return p
    return None


def is_dataset(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and ((path / "train").is_dir() or (path / "test").is_dir())


def load_dataset(root: str | Path) -> Dataset:
    """Read a dataset folder (``train/`` and/or ``test/``)."""
    root = Path(root)
    if not is_dataset(root):
        raise DatasetError(f"{root}: not a dataset folder (expected train/ and/or test/ inside)")
    train = list_audio(root / "train") if (root / "train").is_dir() else []
    test: list[TestClip] = []
    tdir = root / "test"
    if tdir.is_dir():
        sources = tdir / "sources"
        for p in list_audio(tdir):
            side = sidecar_path(p)
            test.append(
                TestClip(
                    path=p,
                    label=label_from_name(p.name),
                    boxes_path=side if side.is_file() else None,
                    anomaly_source=_source(sources, p.stem, "anomaly") if sources.is_dir() else None,
                    background_source=(
                        _source(sources, p.stem, "background") if sources.is_dir() else None
                    ),
                )
            )
    return Dataset(root=root, train=train, test=test)


def training_files(path: str | Path) -> list[Path]:
    """Files to fit on: a dataset's ``train/``, a folder of audio files, or one file."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.is_file():
        return [path]
    files = load_dataset(path).train if is_dataset(path) else list_audio(path)
    if not files:
        where = path / "train" if is_dataset(path) else path
        raise DatasetError(f"{where}: no audio files ({', '.join(AUDIO_SUFFIXES)}) to fit on")
    return files


def input_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files to score: files as given, folders' audio files, a dataset's ``test/``."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            out.append(p)
        elif is_dataset(p):
            out.extend(c.path for c in load_dataset(p).test)
        elif p.is_dir():
            out.extend(list_audio(p))
        else:
            raise DatasetError(f"{p}: no such file or folder")
    if not out:
        raise DatasetError(f"no audio files found in {[str(p) for p in paths]}")
    return out
