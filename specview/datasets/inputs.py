"""The files a command works on: files to fit on and files to score."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from specview.audio import AUDIO_SUFFIXES
from specview.datasets.layouts import is_dataset
from specview.datasets.listing import list_audio
from specview.datasets.reading import load_dataset
from specview.errors import DatasetError


def training_files(path: str | Path, *, subset: str | None = None) -> list[Path]:
    """Files to fit on: a dataset's training clips, a folder of audio files, or one file.

    For MIMII and DCASE folders this is the split of :func:`load_dataset` (``subset`` chooses
    the subset where there are several).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.is_file():
        return [path]
    if is_dataset(path):
        ds = load_dataset(path, subset=subset, channel=None)
        files = ds.train
        if not files:
            if ds.name and (ds.root / "normal").is_dir():
                where = f"{ds.root / 'normal'} (subset {ds.name})"
            else:
                where = str(ds.root / "train") + (f" (subset {ds.name})" if ds.name else "")
            raise DatasetError(
                f"{where}: no audio files ({', '.join(AUDIO_SUFFIXES)}) to fit on"
            )
        return files
    files = list_audio(path)
    if not files:
        raise DatasetError(f"{path}: no audio files ({', '.join(AUDIO_SUFFIXES)}) to fit on")
    return files


def input_files(paths: Iterable[str | Path], *, subset: str | None = None) -> list[Path]:
    """Files to score: files as given, folders' audio files, a dataset's test clips.

    ``subset`` chooses the subset of every dataset folder among ``paths`` that holds several.
    """
    paths = list(paths)
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            out.append(p)
        elif is_dataset(p):
            out.extend(c.path for c in load_dataset(p, subset=subset, channel=None).test)
        elif p.is_dir():
            out.extend(list_audio(p))
        else:
            raise DatasetError(f"{p}: no such file or folder")
    if not out:
        raise DatasetError(f"no audio files found in {[str(p) for p in paths]}")
    return out
