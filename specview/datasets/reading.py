"""Reading a subset's files into a :class:`~specview.datasets.Dataset`."""

from __future__ import annotations

import re
from pathlib import Path

from specview.annotations import sidecar_path
from specview.audio import audio_info
from specview.datasets.clips import AUTO, Channel, Dataset, TestClip
from specview.datasets.layouts import _Found, _found_or_raise, _pick
from specview.datasets.listing import _source, label_from_name, list_audio
from specview.datasets.meta import META_FILE, read_meta_csv
from specview.errors import AudioError, DatasetError
from specview.types import check_channel


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
    channel : int, None or "default"
        Channel every file of the dataset is read from (recorded in :attr:`Dataset.channel`):
        an index from 0, None for the mean of all channels, ``"default"``
        (:data:`~specview.types.DEFAULT_CHANNEL`) for channel 0 on MIMII (as its baselines)
        and the mean elsewhere.

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
        ``channel`` is not an index, None or ``"default"``.
    """
    check_channel(channel)
    root = Path(root)
    return _read(_pick(root, _found_or_raise(root), subset), channel)


def load_datasets(root: str | Path, *, channel: Channel = AUTO) -> list[Dataset]:
    """Every subset under ``root``, in the order of :func:`dataset_subsets`.

    See :func:`load_dataset` for ``channel`` and the errors.
    """
    check_channel(channel)
    return [_read(f, channel) for f in _found_or_raise(Path(root))]
