"""Raven tables come back as the user wrote them: fixtures with the structures of real tables
(Raven Pro views and measurements, BirdNET combined tables, Windows encodings), edited through
the library contract, compared line by line."""

import dataclasses
import os
import warnings

import pytest

from specview import annotations as A
from specview import raven as R
from specview.errors import AnnotationError, SpecviewWarning
from specview.types import Box

H = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)"

# Raven Pro with two views and measurement columns; the waveform rows carry no spectral
# measurements, selection 2 is on channel 2, and the label column is "Annotation".
VIEWS = (
    f"{H}\tDelta Time (s)\tPeak Freq (Hz)\tAvg Power Density (dB FS/Hz)\tAnnotation\tNotes\r\n"
    "1\tWaveform 1\t1\t0.512000000\t1.024000000\t420.500\t1830.200\t0.5120\t\t\twhine\tfaint\r\n"
    "1\tSpectrogram 1\t1\t0.512000000\t1.024000000\t420.500\t1830.200\t0.5120\t861.3\t-62.30"
    "\twhine\tfaint\r\n"
    "2\tWaveform 1\t2\t2.250000000\t2.900000000\t3000.000\t6500.000\t0.6500\t\t\tknock\t\r\n"
    "2\tSpectrogram 1\t2\t2.250000000\t2.900000000\t3000.000\t6500.000\t0.6500\t4134.4\t-58.10"
    "\tknock\t\r\n"
    "5\tWaveform 1\t1\t4.000000000\t4.100000000\t100.000\t200.000\t0.1000\t\t\tclick\tx\r\n"
    "5\tSpectrogram 1\t1\t4.000000000\t4.100000000\t100.000\t200.000\t0.1000\t150.7\t-70.00"
    "\tclick\tx\r\n"
)

# BirdNET-style combined table: several recordings, Begin Path and File Offset (s); the
# sequence time of rec_b starts at 60 s.
BIRDNET = (
    f"{H}\tCommon Name\tSpecies Code\tConfidence\tBegin Path\tFile Offset (s)\n"
    "1\tSpectrogram 1\t1\t0\t3.0\t150\t12000\tEastern Towhee\teastow\t0.8123\t"
    "C:\\data\\site1\\rec_a.wav\t0\n"
    "2\tSpectrogram 1\t1\t9.0\t12.0\t150\t12000\tWood Thrush\twoothr\t0.5511\t"
    "C:\\data\\site1\\rec_a.wav\t9.0\n"
    "3\tSpectrogram 1\t1\t61.5\t64.5\t150\t12000\tEastern Towhee\teastow\t0.9010\t"
    "C:\\data\\site1\\rec_b.wav\t1.5\n"
)


def sidecar(tmp_path, text, *, name="rec.wav", encoding="utf-8", bom=False):
    audio = tmp_path / name
    side = A.sidecar_path(audio)
    data = text.encode(encoding)
    if bom:
        data = {"utf-8": b"\xef\xbb\xbf", "utf-16-le": b"\xff\xfe"}[encoding] + data
    side.write_bytes(data)
    return audio, side


def lines(side, encoding="utf-8"):
    return side.read_bytes().decode(encoding).lstrip("\ufeff").splitlines(keepends=True)


def test_views_load_as_one_box_each_with_everything_else_on_it(tmp_path):
    audio, _ = sidecar(tmp_path, VIEWS)
    state = A.load_sidecar(audio)
    assert state.error is None and state.label_column == "Annotation"
    assert state.boxes == [Box(0.512, 1.024, 420.5, 1830.2, "whine"),
                           Box(2.25, 2.9, 3000.0, 6500.0, "knock"),
                           Box(4.0, 4.1, 100.0, 200.0, "click")]
    b = state.boxes[0]
    assert (b.selection, b.channel) == (1, 1) and state.boxes[1].channel == 2
    assert b.extra == {"Delta Time (s)": "0.5120", "Peak Freq (Hz)": "861.3",
                       "Avg Power Density (dB FS/Hz)": "-62.30", "Notes": "faint"}
    assert state.boxes[2].selection == 5
    assert state.label_columns == ["Annotation", "Notes"]


def test_saving_unedited_boxes_changes_no_byte_and_keeps_no_backup(tmp_path):
    audio, side = sidecar(tmp_path, VIEWS)
    before = side.read_bytes()
    A.save_sidecar(audio, A.load_sidecar(audio).boxes)
    assert side.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [side.name]


def test_library_contract_original_rows_unchanged_plus_the_new_one(tmp_path):
    audio, side = sidecar(tmp_path, VIEWS)
    before = lines(side)
    boxes = A.load_sidecar(audio).boxes
    A.save_sidecar(audio, boxes + [Box(6.0, 6.5, 500.0, 900.0, "new one")])
    after = lines(side)
    assert after[:len(before)] == before
    # the next free selection number, one row per view of the table, the table's channel
    assert after[len(before):] == [
        "6\tWaveform 1\t1\t6.0\t6.5\t500.0\t900.0\t\t\t\tnew one\t\r\n",
        "6\tSpectrogram 1\t1\t6.0\t6.5\t500.0\t900.0\t\t\t\tnew one\t\r\n",
    ]
    # the original is kept once, byte for byte, before the first rewrite
    orig = side.with_name(side.name + ".orig")
    assert orig.read_bytes().decode() == VIEWS
    A.save_sidecar(audio, A.load_sidecar(audio).boxes[:1])
    assert orig.read_bytes().decode() == VIEWS


def test_an_edit_changes_only_the_edited_cells_in_every_view(tmp_path):
    audio, side = sidecar(tmp_path, VIEWS)
    before = lines(side)
    boxes = A.load_sidecar(audio).boxes
    boxes[1] = dataclasses.replace(boxes[1], t0=2.0, f1=7000.0, label="thud")
    A.save_sidecar(audio, boxes)
    after = lines(side)
    assert len(after) == len(before)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert changed == [3, 4]
    assert after[3] == "2\tWaveform 1\t2\t2.0\t2.900000000\t3000.000\t7000.0\t0.6500\t\t\tthud\t\r\n"
    assert after[4] == ("2\tSpectrogram 1\t2\t2.0\t2.900000000\t3000.000\t7000.0\t0.6500\t4134.4"
                        "\t-58.10\tthud\t\r\n")
    back = A.load_sidecar(audio).boxes
    assert back[1] == Box(2.0, 2.9, 3000.0, 7000.0, "thud") and back[1].channel == 2


def test_deleting_a_box_removes_its_rows_in_every_view(tmp_path):
    audio, side = sidecar(tmp_path, VIEWS)
    before = lines(side)
    boxes = A.load_sidecar(audio).boxes
    A.save_sidecar(audio, [boxes[0], boxes[2]])
    assert lines(side) == before[:3] + before[5:]
    A.save_sidecar(audio, [])
    assert lines(side) == before[:1]  # header alone: annotated, no boxes


def test_extra_and_channel_edits_are_written_into_their_cells(tmp_path):
    audio, side = sidecar(tmp_path, VIEWS)
    boxes = A.load_sidecar(audio).boxes
    b = boxes[2]
    boxes[2] = dataclasses.replace(b, channel=3, extra={**b.extra, "Notes": "loud", "Rater": "AB"})
    A.save_sidecar(audio, boxes)
    text = lines(side)
    assert text[0].rstrip("\r\n").endswith("\tNotes\tRater")
    assert text[5].endswith("\tclick\tloud\tAB\r\n") and text[5].startswith("5\tWaveform 1\t3\t")
    again = A.load_sidecar(audio).boxes[2]
    assert again.channel == 3 and again.extra["Rater"] == "AB" and again.extra["Notes"] == "loud"


def test_a_view_row_with_other_coordinates_keeps_them(tmp_path):
    text = (f"{H}\tAnnotation\n"
            "1\tWaveform 1\t1\t1.0\t2.0\t0.0\t22050.0\tbuzz\n"
            "1\tSpectrogram 1\t1\t1.0\t2.0\t300.0\t900.0\tbuzz\n")
    audio, side = sidecar(tmp_path, text)
    (b,) = A.load_sidecar(audio).boxes
    assert b == Box(1.0, 2.0, 300.0, 900.0, "buzz")  # the spectrogram row decides
    A.save_sidecar(audio, [dataclasses.replace(b, t1=2.5, f1=1000.0)])
    assert lines(side)[1:] == ["1\tWaveform 1\t1\t1.0\t2.5\t0.0\t22050.0\tbuzz\n",
                               "1\tSpectrogram 1\t1\t1.0\t2.5\t300.0\t1000.0\tbuzz\n"]


def test_repeated_and_blank_selections_are_boxes_of_their_own(tmp_path):
    text = (f"{H}\tSpecies\n"
            "1\tSpectrogram 1\t1\t0.1\t0.2\t100\t200\ta\n"
            "1\tSpectrogram 1\t1\t0.3\t0.4\t100\t200\tb\n"
            "\tSpectrogram 1\t1\t0.5\t0.6\t100\t200\tc\n"
            "\tSpectrogram 1\t1\t0.7\t0.8\t100\t200\td\n")
    audio, side = sidecar(tmp_path, text)
    boxes = A.load_sidecar(audio).boxes
    assert [b.label for b in boxes] == ["a", "b", "c", "d"]
    assert [b.selection for b in boxes] == [1, 1, None, None]
    A.save_sidecar(audio, boxes)
    assert side.read_text() == text
    A.save_sidecar(audio, [boxes[0], boxes[2], boxes[3]])
    assert side.read_text() == text.replace("1\tSpectrogram 1\t1\t0.3\t0.4\t100\t200\tb\n", "")


@pytest.mark.parametrize("columns,values,expected", [
    (["Peak Freq (Hz)", "Begin Path", "Delta Time (s)", "Species"], ["812.3", "/a/b.wav", "0.5",
                                                                     "WOTH"], "Species"),
    (["Begin File", "Class", "Common Name"], ["b.wav", "knock", "x"], "Class"),
    (["Confidence", "Common Name", "Species Code"], ["0.9", "Wood Thrush", "woothr"],
     "Common Name"),
    (["annotation", "Species"], ["x", "y"], "annotation"),
    (["Call Type", "Tags"], ["song", "t"], "Call Type"),
    (["distance", "comments"], ["12.5", "near the road"], "comments"),
    (["Peak Freq (Hz)", "File Offset (s)", "Begin Path", "Score"], ["1", "2", "/x.wav", "0.3"],
     None),
])
def test_label_column_rule(tmp_path, columns, values, expected):
    text = f"{H}\t" + "\t".join(columns) + "\n1\tSpectrogram 1\t1\t0.1\t0.2\t10\t20\t" \
        + "\t".join(values) + "\n"
    audio, side = sidecar(tmp_path, text)
    state = A.load_sidecar(audio)
    assert state.label_column == expected
    label = values[columns.index(expected)] if expected else ""
    assert state.boxes[0].label == label
    assert set(state.boxes[0].extra) == set(columns) - {expected}
    # an edit writes the label into that column only, and keeps every other cell
    A.save_sidecar(audio, [dataclasses.replace(state.boxes[0], label="EDITED")])
    row = lines(side)[-1].rstrip("\n").split("\t")
    header = lines(side)[0].rstrip("\n").split("\t")
    expected_col = expected or "Annotation"
    assert row[header.index(expected_col)] == "EDITED"
    for c, v in zip(columns, values, strict=True):
        if c != expected:
            assert row[header.index(c)] == v


def test_user_chosen_label_column(tmp_path):
    text = f"{H}\tSpecies\tCall Type\n1\tSpectrogram 1\t1\t0.1\t0.2\t10\t20\tWOTH\tsong\n"
    audio, side = sidecar(tmp_path, text)
    state = A.load_sidecar(audio, label_column="call type")
    assert state.label_column == "Call Type" and state.boxes[0].label == "song"
    assert state.boxes[0].extra == {"Species": "WOTH"}
    A.save_sidecar(audio, [dataclasses.replace(state.boxes[0], label="call")])
    assert lines(side)[1] == "1\tSpectrogram 1\t1\t0.1\t0.2\t10\t20\tWOTH\tcall\n"
    assert A.load_sidecar(audio, label_column="nope").error.endswith(
        "no column 'nope' to take labels from; the table's columns are " + repr(
            H.split("\t") + ["Species", "Call Type"]))
    with pytest.raises(AnnotationError, match="holds Raven's own values"):
        A.read_raven(A.sidecar_path(audio), label_column="Begin Time (s)")


def test_multi_recording_table_sidecar_takes_its_rows_and_keeps_the_rest(tmp_path):
    audio, side = sidecar(tmp_path, BIRDNET, name="rec_b.wav")
    state = A.load_sidecar(audio)
    assert state.label_column == "Common Name"
    assert state.boxes == [Box(1.5, 4.5, 150.0, 12000.0, "Eastern Towhee")]
    assert state.other_files == {"rec_a.wav": 2}
    assert state.boxes[0].extra["Species Code"] == "eastow"
    # move the box and add one: rec_a's rows are untouched, sequence times follow
    moved = dataclasses.replace(state.boxes[0], t0=2.0, t1=5.0)
    A.save_sidecar(audio, [moved, Box(10.0, 11.0, 500.0, 800.0, "Blue Jay")])
    out = lines(side)
    assert out[:3] == BIRDNET.splitlines(keepends=True)[:3]
    assert out[3] == ("3\tSpectrogram 1\t1\t62.0\t65.0\t150\t12000\tEastern Towhee\teastow\t0.9010"
                      "\tC:\\data\\site1\\rec_b.wav\t2.0\n")
    assert out[4] == "4\tSpectrogram 1\t1\t70.0\t71.0\t500.0\t800.0\tBlue Jay\t\t\trec_b.wav\t10.0\n"
    assert A.load_sidecar(audio).boxes == [Box(2.0, 5.0, 150.0, 12000.0, "Eastern Towhee"),
                                           Box(10.0, 11.0, 500.0, 800.0, "Blue Jay")]
    A.save_sidecar(audio, [])
    assert lines(side) == BIRDNET.splitlines(keepends=True)[:3]


def test_import_into_one_clip_and_distribute_over_a_dataset(tmp_path):
    table = tmp_path / "combined.BirdNET.selection.table.txt"
    table.write_text(BIRDNET)
    imp = A.import_table(table, audio=tmp_path / "rec_a.wav")
    assert [b.label for b in imp.boxes] == ["Eastern Towhee", "Wood Thrush"]
    assert imp.other_files == {"rec_b.wav": 1}
    assert imp.boxes[1].t0 == 9.0 and imp.boxes[1].t1 == 12.0
    assert A.import_table(table, audio=tmp_path / "REC_B.flac").boxes[0].t0 == 1.5
    found, unmatched = A.distribute(table, [tmp_path / "rec_b.wav", tmp_path / "rec_c.wav"])
    assert found == {tmp_path / "rec_b.wav": [Box(1.5, 4.5, 150.0, 12000.0, "Eastern Towhee")]}
    assert unmatched == {"rec_a.wav": 2}


def test_a_single_recording_table_belongs_to_its_sidecar_whatever_it_names(tmp_path):
    text = BIRDNET.split("\n")
    one = "\n".join(text[:3]) + "\n"  # only rec_a rows
    audio, _ = sidecar(tmp_path, one, name="renamed.wav")
    state = A.load_sidecar(audio)
    assert len(state.boxes) == 2 and state.other_files == {}


@pytest.mark.parametrize("encoding,bom", [("cp1252", False), ("utf-8", True),
                                          ("utf-16-le", True), ("utf-8", False)])
def test_encodings_and_line_endings_are_kept(tmp_path, encoding, bom):
    text = (f"{H}\tSpecies\r\n1\tSpectrogram 1\t1\t0.1\t0.2\t10\t20\tGrünspecht\r\n"
            "2\tSpectrogram 1\t1\t0.3\t0.4\t10\t20\tPic épeiche\r\n")
    audio, side = sidecar(tmp_path, text, encoding=encoding, bom=bom)
    before = side.read_bytes()
    boxes = A.load_sidecar(audio).boxes
    assert [b.label for b in boxes] == ["Grünspecht", "Pic épeiche"]
    A.save_sidecar(audio, [boxes[0], dataclasses.replace(boxes[1], label="Pic épeiche ♀"
                                                         if encoding != "cp1252" else "Pic Ü")])
    after = side.read_bytes()
    assert after.startswith(before[:len(before) // 3])  # header and first row untouched
    assert after.decode(encoding).lstrip("\ufeff").endswith(
        "\tPic épeiche ♀\r\n" if encoding != "cp1252" else "\tPic Ü\r\n")
    assert (after[:3] == b"\xef\xbb\xbf") == (bom and encoding == "utf-8")


def test_a_label_a_windows_table_cannot_hold_switches_it_to_utf8_with_a_warning(tmp_path):
    text = f"{H}\tSpecies\r\n1\tSpectrogram 1\t1\t0.1\t0.2\t10\t20\tGrünspecht\r\n"
    audio, side = sidecar(tmp_path, text, encoding="cp1252")
    boxes = A.load_sidecar(audio).boxes
    with pytest.warns(SpecviewWarning, match="cannot be written in Windows-1252.*UTF-8"):
        A.save_sidecar(audio, boxes + [Box(1, 2, 3, 4, "鳥")])
    assert side.read_bytes().startswith(b"\xef\xbb\xbf")
    assert [b.label for b in A.load_sidecar(audio).boxes] == ["Grünspecht", "鳥"]
    assert side.with_name(side.name + ".orig").read_bytes() == text.encode("cp1252")


@pytest.mark.parametrize("cell,col", [("1,000", 6), ("2.000,5", 6), ("1 500", 7), ("1_000", 7),
                                      ("0x10", 4), ("", 5), ("inf", 7)])
def test_ambiguous_or_bad_numbers_are_refused_with_line_and_column(tmp_path, cell, col):
    vals = ["0.1", "0.2", "10", "20"]
    vals[col - 4] = cell
    text = f"{H}\tSpecies\n1\tSpectrogram 1\t1\t0.1\t0.2\t10\t20\tok\n" \
           f"2\tSpectrogram 1\t1\t" + "\t".join(vals) + "\tbad\n"
    audio, side = sidecar(tmp_path, text)
    state = A.load_sidecar(audio)
    assert f"line 3, column {col} ({H.split(chr(9))[col - 1]})" in state.error
    with pytest.raises(AnnotationError, match="kept unchanged"):
        A.save_sidecar(audio, [])
    assert side.read_text() == text


def test_a_decimal_comma_is_read_and_written_back_with_a_comma(tmp_path):
    text = f"{H}\tSpecies\n1\tSpectrogram 1\t1\t0,5\t1,25\t100,5\t2000,75\tx\n"
    audio, side = sidecar(tmp_path, text)
    (b,) = A.load_sidecar(audio).boxes
    assert b == Box(0.5, 1.25, 100.5, 2000.75, "x")
    A.save_sidecar(audio, [dataclasses.replace(b, t1=1.5)])
    assert lines(side)[1] == "1\tSpectrogram 1\t1\t0,5\t1,5\t100,5\t2000,75\tx\n"


def test_ultrasonic_boxes_are_kept_as_drawn(tmp_path):
    text = f"{H}\tSpecies\n1\tSpectrogram 1\t1\t0.01\t0.03\t38000\t96000\tPipistrellus\n"
    audio, side = sidecar(tmp_path, text)
    (b,) = A.load_sidecar(audio).boxes
    assert (b.f0, b.f1) == (38000.0, 96000.0)
    A.save_sidecar(audio, [b])
    assert side.read_text() == text
    clamped = A.clamp_box(b, duration=1.0, nyquist=125000.0)  # a 250 kHz recording
    assert (clamped.f0, clamped.f1) == (38000.0, 96000.0)


def test_a_symlinked_sidecar_is_written_through(tmp_path):
    real = tmp_path / "store" / "real.txt"
    real.parent.mkdir()
    real.write_text(VIEWS, newline="")
    audio = tmp_path / "rec.wav"
    side = A.sidecar_path(audio)
    os.symlink(real, side)
    boxes = A.load_sidecar(audio).boxes
    A.save_sidecar(audio, boxes[:2])
    assert side.is_symlink() and os.readlink(side) == str(real)
    assert len(A.load_sidecar(audio).boxes) == 2


def test_specview_tables_get_no_backup(tmp_path):
    audio = tmp_path / "clip.wav"
    A.save_sidecar(audio, [Box(0, 1, 2, 3, "a")])
    A.save_sidecar(audio, [Box(0, 1, 2, 3, "a"), Box(1, 2, 3, 4, "b")])
    assert sorted(p.name for p in tmp_path.iterdir()) == [A.sidecar_path(audio).name]


@pytest.mark.parametrize("header,match", [
    ("Selection,View,Channel,Begin Time (s),End Time (s),Low Freq (Hz),High Freq (Hz)",
     "not tab-separated"),
    ("Selection\tView\tChannel\tBegin Time\tEnd Time\tLow Freq\tHigh Freq",
     r"look like Raven's but are not spelled as Raven writes them"),
    ("Selection\tbegin time (s)\tend time (s)\tlow freq (hz)\thigh freq (hz)",
     r"look like Raven's"),
])
def test_near_raven_headers_name_the_right_columns(tmp_path, header, match):
    p = tmp_path / "t.txt"
    p.write_text(header + "\n1\t0\t1\t2\t3\n")
    with pytest.raises(AnnotationError, match=match):
        A.read_raven(p)


def test_sonic_visualiser_csv_and_svl_are_named(tmp_path):
    csv = tmp_path / "layer.csv"
    csv.write_text("0.500000000,1.250000000,440,note\n2.0,0.5,880,other\n")
    with pytest.raises(AnnotationError, match="comma-separated values .*Sonic Visualiser"):
        A.import_boxes(csv, nyquist=8000)
    svl = tmp_path / "layer.svl"
    svl.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE sonic-visualiser>\n')
    with pytest.raises(AnnotationError, match=r"XML file .*Sonic Visualiser"):
        A.import_boxes(svl)


def test_json_carries_the_row_and_imports_in_linear_time(tmp_path):
    audio, _ = sidecar(tmp_path, VIEWS)
    boxes = A.load_sidecar(audio).boxes
    p = tmp_path / "b.json"
    A.write_boxes_json(p, boxes)
    back = A.read_boxes_json(p)
    assert back == boxes
    assert [(b.selection, b.channel, b.extra) for b in back] == [
        (b.selection, b.channel, b.extra) for b in boxes]
    # into a fresh sidecar: the extra columns become columns again
    other = tmp_path / "other.wav"
    A.save_sidecar(other, back)
    again = A.load_sidecar(other).boxes
    assert again == boxes and again[0].extra == boxes[0].extra


def test_audacity_plain_labels_stay_plain(tmp_path):
    src = tmp_path / "labels.txt"
    src.write_text("1.5\t2.25\tbang\n3\t4\n5.000000\t6.000000\tx\n\\\t-1.000000\t-1.000000\n")
    boxes = A.import_boxes(src, nyquist=8000.0)
    assert boxes == [Box(1.5, 2.25, 0.0, 8000.0, "bang"), Box(3.0, 4.0, 0.0, 8000.0, ""),
                     Box(5.0, 6.0, 0.0, 8000.0, "x")]
    out = tmp_path / "back.txt"
    A.write_audacity_labels(out, boxes)
    assert out.read_text() == src.read_text()
    boxes[0] = dataclasses.replace(boxes[0], f0=100.0, f1=900.0)  # a band drawn: now written
    A.write_audacity_labels(out, boxes)
    assert out.read_text().startswith("1.5\t2.25\tbang\n\\\t100.000000\t900.000000\n3\t4\n")


def test_no_box_is_lost_through_clamping_above_the_analysed_band():
    # the window clamps to the recording's Nyquist, not the encoder's grid
    b = Box(0.1, 0.2, 30000.0, 60000.0, "bat")
    assert A.clamp_box(b, duration=1.0, nyquist=96000.0) == b


def test_render_table_of_nothing_is_a_standard_header():
    text, fmt = R.render_table(None, [])
    assert text == "\t".join(R.STANDARD_COLUMNS) + "\tAnnotation\n" and fmt.encoding == "utf-8"


def test_warnings_are_not_raised_for_plain_saves(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A.save_sidecar(tmp_path / "x.wav", [Box(0, 1, 2, 3, "é")])


def test_edits_saved_one_after_another_and_undone_restore_the_bytes(tmp_path):
    audio, side = sidecar(tmp_path, VIEWS)
    before = side.read_bytes()
    boxes = A.load_sidecar(audio).boxes
    first = dataclasses.replace(boxes[1], t1=3.0)
    A.save_sidecar(audio, [boxes[0], first, boxes[2]])
    second = dataclasses.replace(first, label="thud", extra={**first.extra, "Notes": "n"})
    A.save_sidecar(audio, [boxes[0], second, boxes[2]])  # the box as the window holds it
    out = lines(side)
    assert len(out) == 7 and out[3].startswith("2\tWaveform 1\t2\t2.250000000\t3.0\t")
    assert out[3].endswith("\tthud\tn\r\n") and out[4].endswith("\tthud\tn\r\n")
    A.save_sidecar(audio, boxes)  # undo to what was read: the bytes that were read
    assert side.read_bytes() == before
