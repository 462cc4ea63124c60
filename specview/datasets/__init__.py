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

Modules: :mod:`~specview.datasets.clips` (:class:`TestClip`, :class:`Dataset`),
:mod:`~specview.datasets.listing` (audio files, labels from names),
:mod:`~specview.datasets.meta` (``meta.csv``), :mod:`~specview.datasets.layouts` (finding the
subsets of a root), :mod:`~specview.datasets.reading` (reading one) and
:mod:`~specview.datasets.inputs` (the files to fit on or to score). Every public name is
re-exported here: import from ``specview.datasets``.
"""

from __future__ import annotations

from specview.datasets.clips import AUTO, Channel, Dataset, TestClip
from specview.datasets.inputs import input_files, training_files
from specview.datasets.layouts import dataset_subsets, is_dataset
from specview.datasets.listing import label_from_name, list_audio
from specview.datasets.meta import META_FILE, read_meta_csv
from specview.datasets.reading import load_dataset, load_datasets

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
