"""Listing audio files, and a clip's label and isolated sources from its name."""

from __future__ import annotations

import re
from pathlib import Path

from specview.audio import AUDIO_SUFFIXES, is_audio_file

_ANOMALY = re.compile(r"anomal|abnormal", re.IGNORECASE)
_NORMAL = re.compile(r"normal", re.IGNORECASE)


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


def _subdirs(folder: Path) -> list[Path]:
    """Visible sub-folders, sorted; unreadable folders count as empty."""
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def _audio_names(folder: Path) -> list[str]:
    try:
        return [p.name for p in list_audio(folder)] if folder.is_dir() else []
    except OSError:
        return []
