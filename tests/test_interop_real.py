"""Real annotation files from public projects (``../shared/interop/real/``, when present): each
loads with the right label, survives an edit with every other cell intact, and exports back
byte for byte. The project's own fixtures with the same structures are in test_raven.py."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from specview import annotations as A
from specview.errors import AnnotationError
from specview.tabletext import decode

REAL = Path(__file__).resolve().parents[2] / "shared" / "interop" / "real"

# file -> (format, label column, first labels)
EXPECTED = {
    "crowsetta/Recording_1_Segment_01.Table.1.selections.txt": ("raven", "Species", []),
    "crowsetta/Recording_1_Segment_02.Table.1.selections.txt": ("raven", "Species",
                                                                 ["EATO", "EATO"]),
    "crowsetta/Recording_1_Segment_07.Table.1.selections.txt": ("raven", "Species",
                                                                 ["NOCA", "WOTH", "EATO"]),
    "crowsetta/Recording_1_Segment_36.Table.1.selections.txt": ("raven", "Species",
                                                                 ["EATO", "EATO"]),
    "opensoundscape/EmptyExample.Table.1.selections.txt": ("raven", "Species", []),
    "opensoundscape/MSD-0003_20180427_2minstart00.Table.1.selections.txt": (
        "raven", "Species", ["WOTH", "EATO", "WOTH"]),
    "opensoundscape/raven_with_Annotation_col.txt": ("raven", "Annotation", ["CSWA"]),
    "crowsetta/cold_forest_daylight_label.txt": ("audacity", None, ["1", "2", "1"]),
    "crowsetta/spinetail.txt": ("audacity", None, ["SP", "CRER", "SP"]),
    "crowsetta/100_marron1_May_24_2016_62101389.audacity.txt": ("audacity", None,
                                                                 ["SIL", "call", "SIL"]),
    "crowsetta/405_marron1_June_14_2016_69640887.audacity.txt": ("audacity", None,
                                                                 ["SIL", "call", "SIL"]),
    "scikit-maad/label.txt": ("audacity", None, ["1", "3", "1"]),
    "audiomate/audacity_labels_de.txt": ("audacity", None, ["music", "speech_male"]),
    "audiomate/audacity_labels_en.txt": ("audacity", None, ["music", "speech_male"]),
    "audiomate/audacity_labels_empty_value.txt": ("audacity", None, ["music", "", "speech_male"]),
}

pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason=f"{REAL} is not on this machine")


def _real(name: str) -> Path:
    p = REAL / name
    if not p.is_file():
        pytest.skip(f"{p} is not in this copy of the shared files")
    return p


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_file_loads_with_the_right_labels_and_exports_back(name, tmp_path):
    src = _real(name)
    fmt, col, labels = EXPECTED[name]
    assert A.detect_format(src) == fmt
    imp = A.import_table(src, nyquist=22050.0)
    assert imp.label_column == col
    assert [b.label for b in imp.boxes[:len(labels)]] == labels
    out = tmp_path / "back.txt"
    A.export_boxes(out, imp.boxes, fmt=fmt)
    if fmt == "raven" and not imp.boxes:
        return  # nothing carries an empty table's header; its sidecar keeps it (below)
    assert out.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("name", [n for n, v in sorted(EXPECTED.items()) if v[0] == "raven"])
def test_real_raven_table_survives_an_edit_with_every_other_cell_intact(name, tmp_path):
    src = _real(name)
    audio = tmp_path / "rec.wav"
    side = A.sidecar_path(audio)
    shutil.copy(src, side)
    state = A.load_sidecar(audio)
    assert state.error is None
    A.save_sidecar(audio, state.boxes)
    assert side.read_bytes() == src.read_bytes()
    before = decode(src.read_bytes())[0].splitlines()
    boxes = state.boxes
    if boxes:
        k = len(boxes) // 2
        boxes[k] = dataclasses.replace(boxes[k], t1=boxes[k].t1 + 0.25, label="EDITED")
    A.save_sidecar(audio, boxes + [A.Box(0.5, 0.75, 1000.0, 2000.0, "new")])
    after = decode(side.read_bytes())[0].splitlines()
    header = before[0].split("\t")
    end_i = header.index("End Time (s)")
    label_i = header.index(state.label_column)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b]
    assert len(changed) == (1 if boxes else 0)
    for i in changed:  # the edited row: End Time and the label changed, every other cell kept
        a, b = before[i].split("\t"), after[i].split("\t")
        assert [x for j, x in enumerate(a) if j not in (end_i, label_i)] == [
            x for j, x in enumerate(b) if j not in (end_i, label_i)]
        assert b[label_i] == "EDITED"
    assert len(after) == len(before) + 1 and after[-1].split("\t")[label_i] == "new"
    assert side.with_name(side.name + ".orig").read_bytes() == src.read_bytes()
    assert A.load_sidecar(audio).boxes == boxes + [A.Box(0.5, 0.75, 1000.0, 2000.0, "new")]


def test_an_end_time_of_minus_one_is_refused_with_what_it_means():
    src = _real("audiomate/broadcast_b_labels.txt")
    with pytest.raises(AnnotationError, match=r"line 2: end time -1\.0 s is negative .*until "
                                              r"the end of the recording"):
        A.import_boxes(src, nyquist=8000.0)
