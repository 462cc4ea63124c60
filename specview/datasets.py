"""Dataset folders: the generic DCASE-style layout, MIMII and DCASE 2020 Task 2.

Generic layout
    ``DATASET/train/*`` holds normal recordings only; ``DATASET/test/*`` holds recordings whose
    names contain ``normal`` or ``anomaly`` (DCASE convention). Beside a test clip there may be
    a Raven sidecar ``<stem>.Table.1.selections.txt`` with ground-truth boxes, isolated sources
    ``test/sources/<stem>.anomaly.<ext>`` / ``<stem>.background.<ext>``, and ``test/meta.csv``
    with one row per clip (column ``file`` plus any facts, e.g. ``level_db``, ``kind``); the
    demo data and EnvMix builds are in this layout.

MIMII (as distributed)
    ``{6,0,-6}_dB_{machine}/{machine}/id_XX/{normal,abnormal}/*.wav``, 16 kHz, 8 channels. One
    subset per (SNR folder, machine, id), named e.g. ``6_dB_fan/id_00``; its level is the SNR
    folder's number (the machine sound over the factory noise, in dB). Split of the MIMII
    baseline: test = every abnormal clip + the *first* as many normal clips by sorted file
    name; train = the remaining normal clips. Files are read from channel 0 by default.

DCASE 2020 Task 2 (development/evaluation data)
    ``{machine}/{train,test}/{normal,anomaly}_id_XX_*.wav``: a generic layout whose every file
    name carries ``id_XX``; one subset per machine id, named e.g. ``fan/id_00``.

A *root* may be a generic dataset, a MIMII top folder, one SNR folder, one machine folder or one
id folder, a DCASE ``dev_data`` folder or one machine folder of it. :func:`dataset_subsets`
lists the subsets under a root; :func:`load_dataset` reads one of them.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from specview.annotations import read_sidecar, sidecar_path
from specview.audio import AUDIO_SUFFIXES, audio_info, is_audio_file
from specview.errors import AudioError, DatasetError, ParameterError
from specview.types import Box

__all__ = [
    "AUTO",
    "META_FILE",
    "Channel",
    "Dataset",
    "TestClip",
    "dataset_subsets",
    "input_files",
    "is_dataset",
    "label_from_name",
    "list_audio",
    "load_dataset",
    "load_datasets",
    "read_meta_csv",
    "training_files",
]

_ANOMALY = re.compile(r"anomal|abnormal", re.IGNORECASE)
_NORMAL = re.compile(r"normal", re.IGNORECASE)
#: DCASE 2020 Task 2 file names: ``normal_id_00_00000000.wav`` (the label is absent in eval data).
_DCASE_NAME = re.compile(r"^(?:(?:normal|anomaly)_)?(id_\d+)_", re.IGNORECASE)
_MIMII_ID = re.compile(r"^id_\d+$", re.IGNORECASE)
#: MIMII SNR folders: ``6_dB_fan``, ``-6_dB_pump``, ``0_dB_valve``.
_SNR_FOLDER = re.compile(r"^([+-]?\d+(?:\.\d+)?)_?dB(?:_(.+))?$", re.IGNORECASE)

#: Optional per-clip facts of the generic layout, ``test/meta.csv``.
META_FILE = "meta.csv"
#: meta.csv columns read as numbers (an empty cell means "not known" and is left out).
_META_FLOATS = ("level_db", "t0", "t1", "f0", "f1", "source_event_t0", "source_event_t1")

#: ``channel`` value meaning "what the layout's baseline uses": channel 0 for MIMII, else the mean.
AUTO = "auto"
Channel = int | None | Literal["auto"]


@dataclass(frozen=True)
class TestClip:
    """One test recording and what is known about it.

    Attributes
    ----------
    path : Path
    label : int or None
        1 anomalous, 0 normal, None unknown.
    boxes_path : Path or None
        Raven sidecar with the ground-truth boxes.
    anomaly_source, background_source : Path or None
        Isolated sources of a mixed clip (``test/sources/<stem>.anomaly.wav`` ...).
    meta : dict
        Facts about the clip: ``level_db`` (float, dB: the event-to-background ratio of a mixed
        clip or, for MIMII, the SNR of the machine over the factory noise), ``kind``,
        ``machine``, ``machine_id``, and any other column of the generic layout's ``meta.csv``
        (see :func:`read_meta_csv` for which columns are numbers).
    """

    __test__ = False  # not a pytest test class despite its name

    path: Path
    label: int | None  # 1 anomalous, 0 normal, None unknown
    boxes_path: Path | None = None
    anomaly_source: Path | None = None
    background_source: Path | None = None
    meta: dict = field(default_factory=dict, hash=False)

    def boxes(self, *, label_column: str | None = None) -> list[Box]:
        """Ground-truth boxes from the sidecar (empty when there is none).

        A sidecar that names several recordings (``Begin File`` / ``Begin Path``) gives the
        rows of this clip only, at their times in this clip (see :mod:`specview.raven`).

        Raises
        ------
        AnnotationError
            The sidecar cannot be read.
        """
        if not self.boxes_path:
            return []
        return read_sidecar(self.path, label_column=label_column)


@dataclass(frozen=True)
class Dataset:
    """Training and test clips of one (sub)set.

    Attributes
    ----------
    root : Path
        Folder the subset lives in: the dataset folder, a DCASE machine folder, a MIMII id
        folder.
    train : list of Path
        Normal clips to fit on.
    test : list of TestClip
    name : str
        Subset name, e.g. ``"6_dB_fan/id_00"`` or ``"fan/id_00"``; ``""`` for a plain dataset.
    channel : int or None
        What to pass to :func:`specview.audio.load_audio` for every file of this dataset:
        None = the mean of all channels, 0 = the first channel.
    meta : dict
        Facts shared by every clip (``machine``, ``machine_id``, ``level_db`` for MIMII).
    """

    root: Path
    train: list[Path] = field(default_factory=list)
    test: list[TestClip] = field(default_factory=list)
    name: str = ""
    channel: int | None = None
    meta: dict = field(default_factory=dict, hash=False)


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


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


def _has_split(folder: Path) -> bool:
    return (folder / "train").is_dir() or (folder / "test").is_dir()


def _is_mimii_id(folder: Path) -> bool:
    return bool(_MIMII_ID.match(folder.name)) and (
        (folder / "normal").is_dir() or (folder / "abnormal").is_dir()
    )


def _dcase_ids(folder: Path) -> list[str] | None:
    """Machine ids of a DCASE 2020 machine folder, or None when its names are not DCASE's."""
    names = _audio_names(folder / "train") + _audio_names(folder / "test")
    matches = [_DCASE_NAME.match(n) for n in names]
    if not names or not all(matches):
        return None
    return sorted({m.group(1).lower() for m in matches if m}, key=_id_key)


def _id_key(machine_id: str) -> tuple[int, str]:
    digits = re.sub(r"\D", "", machine_id)
    return (int(digits) if digits else -1, machine_id)


# ---------------------------------------------------------------------------------------------
# Finding subsets
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    """One subset found under a root, before its files are read."""

    name: str
    kind: Literal["generic", "dcase", "mimii"]
    folder: Path  # generic/dcase: holds train/ and test/; mimii: the id folder
    meta: dict = field(default_factory=dict, hash=False)


def _folder_name(folder: Path) -> str:
    return folder.resolve().name or str(folder)


def _dcase_found(folder: Path, ids: list[str]) -> list[_Found]:
    machine = _folder_name(folder)
    return [
        _Found(f"{machine}/{i}", "dcase", folder, {"machine": machine, "machine_id": i})
        for i in ids
    ]


def _mimii_found(id_folder: Path) -> _Found:
    """A MIMII id folder; its level comes from an SNR-named machine folder or its parent."""
    resolved = id_folder.resolve()
    machine_dir = resolved.parent
    machine = machine_dir.name
    meta: dict = {"machine": machine, "machine_id": resolved.name}
    name = f"{machine}/{resolved.name}"
    for candidate in (machine_dir, machine_dir.parent):
        m = _SNR_FOLDER.match(candidate.name)
        if m:
            meta["level_db"] = float(m.group(1))
            if candidate == machine_dir and m.group(2):  # 6_dB_fan/id_00 without fan/
                meta["machine"] = m.group(2)
            name = f"{candidate.name}/{resolved.name}"
            break
    return _Found(name, "mimii", id_folder, meta)


def _scan(root: Path) -> list[_Found]:
    """Every subset under ``root`` (see the module docstring for the layouts)."""
    if not root.is_dir():
        return []
    if _has_split(root):
        ids = _dcase_ids(root)
        return [_Found("", "generic", root)] if ids is None else _dcase_found(root, ids)
    if _is_mimii_id(root):
        return [_mimii_found(root)]
    kids = _subdirs(root)
    found: list[_Found] = []
    # A MIMII machine folder (id_XX/ inside) or a DCASE dev_data folder (machine folders inside).
    for kid in kids:
        if _is_mimii_id(kid):
            found.append(_mimii_found(kid))
        elif _has_split(kid) and (ids := _dcase_ids(kid)) is not None:
            found += _dcase_found(kid, ids)
    if found:
        return found
    # A MIMII SNR folder: machine/id_XX/.
    for kid in kids:
        found += [_mimii_found(g) for g in _subdirs(kid) if _is_mimii_id(g)]
    if found:
        return found
    # The MIMII top folder: SNR folders (only those, to keep the scan of a random folder short).
    for kid in kids:
        if _SNR_FOLDER.match(kid.name):
            for machine in _subdirs(kid):
                found += [_mimii_found(g) for g in _subdirs(machine) if _is_mimii_id(g)]
    return found


def is_dataset(path: str | Path) -> bool:
    """True for a generic dataset folder and for every MIMII or DCASE folder listed above."""
    path = Path(path)
    if not path.is_dir():
        return False
    return _has_split(path) or bool(_scan(path))


def dataset_subsets(root: str | Path) -> list[str]:
    """Names of the subsets under ``root``.

    A generic dataset has exactly one, named ``""``; a MIMII folder one per SNR folder, machine
    and id (``"6_dB_fan/id_00"``); a DCASE folder one per machine and id (``"fan/id_00"``).

    Raises
    ------
    DatasetError
        ``root`` is missing or holds none of the known layouts.
    """
    root = Path(root)
    return [f.name for f in _found_or_raise(root)]


def _found_or_raise(root: Path) -> list[_Found]:
    if not root.exists():
        raise DatasetError(f"{root}: no such folder")
    found = _scan(root)
    if not found:
        raise DatasetError(
            f"{root}: not a dataset folder (expected train/ and/or test/ inside, or a MIMII "
            "folder such as 6_dB_fan/fan/id_00/{normal,abnormal}/, or a DCASE 2020 machine "
            "folder with {train,test}/normal_id_00_*.wav)"
        )
    return found


def _pick(root: Path, found: list[_Found], subset: str | None) -> _Found:
    names = [f.name for f in found]
    if subset is None:
        if len(found) == 1:
            return found[0]
        raise DatasetError(
            f"{root} holds {len(found)} subsets: {', '.join(names)}; choose one with --subset "
            "(Python: subset=...), e.g. --subset " + names[0]
        )
    exact = [f for f in found if f.name == subset]
    if exact:
        return exact[0]
    # A unique tail is enough: "id_00" for "fan/id_00" when only one subset ends so.
    tail = [f for f in found if subset and f.name.endswith("/" + subset.strip("/"))]
    if len(tail) == 1:
        return tail[0]
    listing = ", ".join(repr(n) for n in names)
    if tail:
        raise DatasetError(
            f"subset {subset!r} is ambiguous in {root}: it matches "
            f"{', '.join(f.name for f in tail)}; give the full name"
        )
    raise DatasetError(f"{root}: no subset {subset!r}; it holds {listing}")


# ---------------------------------------------------------------------------------------------
# Reading subsets
# ---------------------------------------------------------------------------------------------


def _check_channel_arg(channel: object) -> None:
    if channel is None or channel == AUTO:
        return
    if isinstance(channel, bool) or not isinstance(channel, int) or channel < 0:
        raise ParameterError(
            f"channel must be a whole number >= 0, None (mean of channels) or 'auto', "
            f"got {channel!r}"
        )


def _check_channel(channel: int | None, files: list[Path]) -> None:
    """Refuse early a channel the dataset's first file does not have."""
    if channel is None or not files:
        return
    try:
        _, n_channels, _ = audio_info(files[0])
    except AudioError:
        return  # an unreadable file is reported when it is loaded
    if channel >= n_channels:
        raise DatasetError(
            f"channel {channel} requested but {files[0]} has {n_channels} channel(s); pass a "
            f"channel from 0 to {n_channels - 1}, or none for the mean of all channels"
        )


def _parse_meta_value(path: Path, lineno: int, column: str, cell: str) -> object:
    if column in _META_FLOATS:
        try:
            value = float(cell)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise DatasetError(
                f"{path}, line {lineno}: column {column!r} must be a finite number, got "
                f"{cell!r}; fix the value or leave the cell empty"
            )
        return value
    if column == "label":
        if cell not in ("0", "1"):
            raise DatasetError(
                f"{path}, line {lineno}: label must be 0 (normal) or 1 (anomalous), got "
                f"{cell!r}; fix the value or leave the cell empty"
            )
        return int(cell)
    return cell


def read_meta_csv(path: str | Path) -> dict[str, dict]:
    """Read a ``meta.csv``: ``{file name: {column: value}}``.

    The header must hold a ``file`` column. Cells of ``level_db``, ``t0``, ``t1``, ``f0``,
    ``f1`` (and EnvMix's ``source_event_t0``, ``source_event_t1``) are read as floats and
    ``label`` as 0/1; other columns stay strings. Empty cells are left out of a row's dict.

    Raises
    ------
    DatasetError
        Unreadable file, no ``file`` column, a row with too many or too few cells, an empty or
        repeated file name, or a bad number, naming the file and line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc}); fix or remove the file") from None
    try:
        rows = list(csv.reader(text.splitlines()))
    except csv.Error as exc:
        raise DatasetError(f"{path}: not a valid CSV file ({exc})") from None
    numbered = [(i, r) for i, r in enumerate(rows, start=1) if any(c.strip() for c in r)]
    if not numbered:
        return {}
    _, header = numbered[0]
    header = [h.strip() for h in header]
    if "file" not in header:
        raise DatasetError(
            f"{path}, line {numbered[0][0]}: no 'file' column in header {header}; the first "
            "line must name the columns, one of them 'file'"
        )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes or "" in header:
        raise DatasetError(
            f"{path}, line {numbered[0][0]}: empty or repeated column name(s) "
            f"{dupes or ['']} in header {header}"
        )
    out: dict[str, dict] = {}
    for lineno, cells in numbered[1:]:
        if len(cells) != len(header):
            raise DatasetError(
                f"{path}, line {lineno}: {len(cells)} cell(s) but the header has "
                f"{len(header)} ({', '.join(header)})"
            )
        row = dict(zip(header, (c.strip() for c in cells), strict=True))
        name = Path(row.pop("file").replace("\\", "/")).name
        if not name:
            raise DatasetError(f"{path}, line {lineno}: the 'file' cell is empty")
        if name in out:
            raise DatasetError(f"{path}, line {lineno}: {name!r} is listed a second time")
        out[name] = {
            col: _parse_meta_value(path, lineno, col, cell) for col, cell in row.items() if cell
        }
    return out


def _generic_clips(root: Path, keep: re.Pattern | None, extra: dict) -> tuple[list, list]:
    """Train paths and test clips of a generic folder, optionally only names matching ``keep``."""

    def kept(paths: list[Path]) -> list[Path]:
        return [p for p in paths if keep is None or keep.search(p.name)]

    train = kept(list_audio(root / "train")) if (root / "train").is_dir() else []
    test: list[TestClip] = []
    tdir = root / "test"
    if tdir.is_dir():
        meta_path = tdir / META_FILE
        # Rows naming files that are not in test/ are allowed: a test set may be pruned.
        rows = read_meta_csv(meta_path) if meta_path.is_file() else {}
        sources = tdir / "sources"
        has_sources = sources.is_dir()
        for p in kept(list_audio(tdir)):
            side = sidecar_path(p)
            meta = {**extra, **rows.get(p.name, {})}
            label = label_from_name(p.name)
            if "label" in meta:
                if label is None:
                    label = meta["label"]
                elif label != meta["label"]:
                    raise DatasetError(
                        f"{meta_path}: {p.name} has label {meta['label']} but its name says "
                        f"{'anomalous' if label else 'normal'} ({label}); make them agree"
                    )
            test.append(
                TestClip(
                    path=p,
                    label=label,
                    boxes_path=side if side.is_file() else None,
                    anomaly_source=_source(sources, p.stem, "anomaly") if has_sources else None,
                    background_source=(
                        _source(sources, p.stem, "background") if has_sources else None
                    ),
                    meta=meta,
                )
            )
    return train, test


def _mimii_clips(folder: Path, meta: dict) -> tuple[list, list]:
    normal = list_audio(folder / "normal") if (folder / "normal").is_dir() else []
    abnormal = list_audio(folder / "abnormal") if (folder / "abnormal").is_dir() else []
    # The MIMII baseline's split: as many normal test clips as abnormal ones, the first by name.
    n = min(len(abnormal), len(normal))
    train = normal[n:]

    def clip(p: Path, label: int) -> TestClip:
        side = sidecar_path(p)
        return TestClip(p, label, side if side.is_file() else None, meta=dict(meta))

    test = [clip(p, 0) for p in normal[:n]] + [clip(p, 1) for p in abnormal]
    return train, test


def _read(found: _Found, channel: Channel) -> Dataset:
    if found.kind == "mimii":
        train, test = _mimii_clips(found.folder, found.meta)
    elif found.kind == "dcase":
        keep = re.compile(rf"^(?:(?:normal|anomaly)_)?{found.meta['machine_id']}_", re.IGNORECASE)
        train, test = _generic_clips(found.folder, keep, found.meta)
    else:
        train, test = _generic_clips(found.folder, None, {})
    if channel == AUTO:
        channel = 0 if found.kind == "mimii" else None
    _check_channel(channel, [*train, *(c.path for c in test)][:1])
    return Dataset(
        root=found.folder,
        train=train,
        test=test,
        name=found.name,
        channel=channel,
        meta=dict(found.meta),
    )


def load_dataset(
    root: str | Path, *, subset: str | None = None, channel: Channel = AUTO
) -> Dataset:
    """Read one (sub)set of a dataset folder.

    Parameters
    ----------
    root : str or Path
        A generic dataset (``train/`` and/or ``test/``), a MIMII top, SNR, machine or id
        folder, a DCASE 2020 ``dev_data`` folder or one machine folder of it.
    subset : str, optional
        Name from :func:`dataset_subsets`, or a unique tail of one (``"id_00"`` for
        ``"fan/id_00"``). Needed when ``root`` holds several subsets.
    channel : int, None or "auto"
        Channel every file of the dataset is read from (recorded in :attr:`Dataset.channel`):
        an index from 0, None for the mean of all channels, ``"auto"`` (default) for channel 0
        on MIMII (as its baselines) and the mean elsewhere.

    Returns
    -------
    Dataset
        For MIMII, ``test`` holds every abnormal clip and as many normal clips (the first by
        sorted file name), ``train`` the other normal clips.

    Raises
    ------
    DatasetError
        No known layout, several subsets and no ``subset``, an unknown ``subset``, a malformed
        ``test/meta.csv``, or a channel the files do not have.
    ParameterError
        ``channel`` is not an index, None or ``"auto"``.
    """
    _check_channel_arg(channel)
    root = Path(root)
    return _read(_pick(root, _found_or_raise(root), subset), channel)


def load_datasets(root: str | Path, *, channel: Channel = AUTO) -> list[Dataset]:
    """Every subset under ``root``, in the order of :func:`dataset_subsets`.

    See :func:`load_dataset` for ``channel`` and the errors.
    """
    _check_channel_arg(channel)
    return [_read(f, channel) for f in _found_or_raise(Path(root))]


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
