"""What a dataset is in memory: :class:`TestClip` and :class:`Dataset`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from specview.annotations import read_sidecar
from specview.types import DEFAULT_CHANNEL, Box, Channel

#: ``channel`` value meaning "what the layout's baseline uses": channel 0 for MIMII, else the
#: mean (the same spelling as everywhere, :data:`specview.types.DEFAULT_CHANNEL`).
AUTO = DEFAULT_CHANNEL

__all__ = ["AUTO", "Channel", "Dataset", "TestClip"]


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
