"""Finding the subsets under a root: the generic layout, MIMII and DCASE 2020 Task 2 folders
(see :mod:`specview.datasets` for the layouts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from specview.datasets.listing import _audio_names, _subdirs
from specview.errors import DatasetError

#: DCASE 2020 Task 2 file names: ``normal_id_00_00000000.wav`` (the label is absent in eval data).
_DCASE_NAME = re.compile(r"^(?:(?:normal|anomaly)_)?(id_\d+)_", re.IGNORECASE)
_MIMII_ID = re.compile(r"^id_\d+$", re.IGNORECASE)
#: MIMII SNR folders: ``6_dB_fan``, ``-6_dB_pump``, ``0_dB_valve``.
_SNR_FOLDER = re.compile(r"^([+-]?\d+(?:\.\d+)?)_?dB(?:_(.+))?$", re.IGNORECASE)


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
    """Every subset under ``root`` (see :mod:`specview.datasets` for the layouts)."""
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
