"""Box rules, Audacity/JSON/Raven files, import/export and sidecars, with known answers."""

import json
import math
import os
import random
import re

import pytest

from specview import annotations as A
from specview.errors import AnnotationError, ParameterError
from specview.types import Box

DUR, NYQ = 10.0, 8000.0


def clamp(box, **kw):
    return A.clamp_box(box, duration=DUR, nyquist=NYQ, **kw)


# -- clamp_box ---------------------------------------------------------------------------------


def test_min_constants():
    assert A.MIN_DURATION == 0.01 and A.MIN_BANDWIDTH == 10.0


@pytest.mark.parametrize("corners", [(1, 2, 100, 500), (2, 1, 100, 500), (1, 2, 500, 100),
                                     (2, 1, 500, 100)])
def test_drag_in_any_direction_orders_corners(corners):
    assert clamp(Box(*corners, "x")) == Box(1.0, 2.0, 100.0, 500.0, "x")


def test_out_of_bounds_is_cut_to_the_clip():
    assert clamp(Box(-1, 12, -50, 9000, "big")) == Box(0.0, 10.0, 0.0, 8000.0, "big")
    assert clamp(Box(8, 11, 7000, 8500)) == Box(8.0, 10.0, 7000.0, 8000.0)


def test_tiny_box_grows_around_its_centre():
    b = clamp(Box(5.0, 5.0, 1000.0, 1000.0, "point"))
    assert b.label == "point"
    assert b.t1 - b.t0 >= 0.01 and b.f1 - b.f0 >= 10.0
    assert b.t0 == pytest.approx(4.995) and b.t1 == pytest.approx(5.005)
    assert b.f0 == pytest.approx(995.0) and b.f1 == pytest.approx(1005.0)
    # a box already big enough on one side keeps that side
    b = clamp(Box(5.0, 5.004, 100.0, 3000.0))
    assert (b.f0, b.f1) == (100.0, 3000.0)
    assert b.t0 == pytest.approx(4.997) and b.t1 == pytest.approx(5.007)


def test_tiny_box_at_the_edges_is_shifted_inside():
    assert clamp(Box(0, 0.001, 0, 1)) == Box(0.0, 0.01, 0.0, 10.0)
    b = clamp(Box(9.999, 10.0, 7999.0, 8000.0))
    assert b.t1 == 10.0 and b.t0 == pytest.approx(9.99) and b.t1 - b.t0 >= 0.01
    assert b.f1 == 8000.0 and b.f0 == pytest.approx(7990.0) and b.f1 - b.f0 >= 10.0
    # wholly outside: pushed onto the nearest edge, at the minimum size
    b = clamp(Box(11, 12, 9000, 9500))
    assert b.t1 == 10.0 and b.f1 == 8000.0
    assert b.t0 == pytest.approx(9.99) and b.f0 == pytest.approx(7990.0)
    b = clamp(Box(-3, -2, -9, -1))
    assert b == Box(0.0, 0.01, 0.0, 10.0)


def test_clamp_invariants_on_random_drags():
    rng = random.Random(7)
    for _ in range(2000):
        c = [rng.uniform(-5, 15), rng.uniform(-5, 15), rng.uniform(-1e3, 9e3), rng.uniform(-1e3, 9e3)]
        if rng.random() < 0.3:
            c[1] = c[0] + rng.uniform(-1e-3, 1e-3)
        if rng.random() < 0.3:
            c[3] = c[2] + rng.uniform(-1.0, 1.0)
        b = clamp(Box(*c))
        assert 0 <= b.t0 <= b.t1 <= DUR and 0 <= b.f0 <= b.f1 <= NYQ
        assert b.t1 - b.t0 >= A.MIN_DURATION and b.f1 - b.f0 >= A.MIN_BANDWIDTH


def test_clip_exactly_the_minimum_size():
    b = A.clamp_box(Box(0.001, 0.002, 3, 4), duration=0.01, nyquist=10.0)
    assert b == Box(0.0, 0.01, 0.0, 10.0)


@pytest.mark.parametrize("kw,match", [
    ({"duration": 0.005}, r"0\.005 s.*min_duration"),
    ({"duration": 0.0}, "lasts 0.0 s"),
    ({"nyquist": 5.0}, r"0-5\.0 Hz.*min_bandwidth"),
    ({"duration": math.nan}, "duration=nan"),
    ({"nyquist": math.inf}, "nyquist=inf"),
    ({"min_duration": -1.0}, "min_duration=-1.0"),
])
def test_clamp_refuses_unusable_limits(kw, match):
    args = {"duration": DUR, "nyquist": NYQ, **kw}
    with pytest.raises(ParameterError, match=match):
        A.clamp_box(Box(1, 2, 3, 400), **args)


def test_clamp_refuses_non_finite_box():
    with pytest.raises(ParameterError, match="non-finite"):
        clamp(Box(1, math.nan, 3, 400))
    with pytest.raises(ParameterError, match="non-finite"):
        clamp(Box(1, 2, 3, math.inf))


def test_sort_boxes_time_then_frequency():
    boxes = [Box(2, 3, 0, 10, "c"), Box(1, 5, 50, 60, "b"), Box(1, 5, 20, 30, "a"),
             Box(0.5, 9, 0, 1, "first")]
    assert [b.label for b in A.sort_boxes(boxes)] == ["first", "a", "b", "c"]
    assert A.sort_boxes([]) == []


# -- Audacity labels ---------------------------------------------------------------------------

AUDACITY_WITH_FREQ = (
    "1.000000\t2.500000\twhine\n"
    "\\\t100.000000\t2000.000000\n"
    "3.250000\t3.250000\tclick\n"
    "\\\t500.500000\t500.500000\n"
)


def test_audacity_with_frequency_lines_and_point_label(tmp_path):
    p = tmp_path / "labels.txt"
    p.write_text(AUDACITY_WITH_FREQ)
    assert A.read_audacity_labels(p) == [Box(1.0, 2.5, 100.0, 2000.0, "whine"),
                                         Box(3.25, 3.25, 500.5, 500.5, "click")]


def test_audacity_without_frequency_lines_covers_the_band(tmp_path):
    p = tmp_path / "labels.txt"
    p.write_text("0.500000\t1.000000\tbang\n2.000000\t2.000000\t\n4.000000\t5.000000\tx\n"
                 "\\\t10.000000\t20.000000\n")
    assert A.read_audacity_labels(p, nyquist=8000.0) == [
        Box(0.5, 1.0, 0.0, 8000.0, "bang"), Box(2.0, 2.0, 0.0, 8000.0, ""),
        Box(4.0, 5.0, 10.0, 20.0, "x")]
    with pytest.raises(AnnotationError, match=r"labels\.txt, line 1: label 'bang' has no "
                                              r"frequency band.*nyquist"):
        A.read_audacity_labels(p)


def test_audacity_negative_frequency_means_not_set(tmp_path):
    p = tmp_path / "labels.txt"
    p.write_text("1.0\t2.0\ta\n\\\t-1.000000\t-1.000000\n"
                 "3.0\t4.0\tb\n\\\t-1.000000\t3000.000000\n"
                 "5.0\t6.0\tc\n\\\t1500.000000\t-1.000000\n")
    assert A.read_audacity_labels(p, nyquist=4000.0) == [
        Box(1.0, 2.0, 0.0, 4000.0, "a"), Box(3.0, 4.0, 0.0, 3000.0, "b"),
        Box(5.0, 6.0, 1500.0, 4000.0, "c")]
    # only the lower edge unset: no nyquist needed
    q = tmp_path / "lower.txt"
    q.write_text("3.0\t4.0\tb\n\\\t-1.000000\t3000.000000\n")
    assert A.read_audacity_labels(q) == [Box(3.0, 4.0, 0.0, 3000.0, "b")]
    with pytest.raises(AnnotationError, match="line 1: label 'a' has no frequency band"):
        A.read_audacity_labels(p)


def test_audacity_crlf_blank_lines_decimal_comma_and_label_spaces(tmp_path):
    p = tmp_path / "win.txt"
    p.write_bytes(b"1,5\t2,5\t  two words \r\n\\\t100\t200\r\n\r\n3\t4\tnext\r\n\\\t1\t2\r\n")
    assert A.read_audacity_labels(p) == [Box(1.5, 2.5, 100.0, 200.0, "  two words "),
                                         Box(3.0, 4.0, 1.0, 2.0, "next")]


def test_audacity_format_known_answer():
    text = A.format_audacity_labels([Box(1 / 3, 0.5, 0.0, 22050.0, "a b"), Box(2, 2, 5, 5)])
    assert text == ("0.3333333333333333\t0.500000\ta b\n\\\t0.000000\t22050.000000\n"
                    "2.000000\t2.000000\t\n\\\t5.000000\t5.000000\n")
    assert A.format_audacity_labels([]) == ""
    assert A.format_audacity_labels([Box(-0.0, 1, -0.0, 2)]).startswith("0.000000\t")


def test_audacity_round_trip_is_exact(tmp_path):
    rng = random.Random(3)
    boxes = []
    for i in range(50):
        t0, f0 = rng.uniform(0, 600), rng.uniform(0, 20000)
        boxes.append(Box(t0, t0 + rng.uniform(0, 5), f0, f0 + rng.uniform(0, 2000), f"l{i} é"))
    boxes += [Box(0.1, 0.1 + 0.2, 1e-7, 0.0000005, ""), Box(1 / 3, 2 / 3, 100.0000005, 200.0),
              Box(1.5, 2.25, 0.0, 8000.0, "six decimals suffice")]
    p, q = tmp_path / "a.txt", tmp_path / "b.txt"
    A.write_audacity_labels(p, boxes)
    back = A.read_audacity_labels(p)
    assert back == boxes
    assert "1.500000\t2.250000\tsix decimals suffice\n" in p.read_text()  # Audacity's style
    A.write_audacity_labels(q, back)
    assert q.read_bytes() == p.read_bytes()
    assert A.read_audacity_labels(q) == back


@pytest.mark.parametrize("label", ["tab\there", "new\nline", "cr\rhere"])
def test_audacity_refuses_labels_it_cannot_hold(tmp_path, label):
    p = tmp_path / "a.txt"
    p.write_text("keep me")
    with pytest.raises(AnnotationError, match=r"box 2 .*label .* tab or a line break"):
        A.write_audacity_labels(p, [Box(0, 1, 0, 1, "ok"), Box(1, 2, 3, 4, label)])
    assert p.read_text() == "keep me"


@pytest.mark.parametrize("body,match", [
    ("1.0\tabc\tx\n", r"line 1: end time: 'abc' is not a number"),
    ("1.0\t2.0\tx\n\\\t10\toops\n", r"line 2: high frequency: 'oops' is not a number"),
    ("\\\t10\t20\n1\t2\tx\n", r"line 1: frequency line .* does not follow a label line"),
    ("1\t2\tx\n\n\\\t10\n", r"line 3: malformed frequency line"),
    ("0\t1\ta\n2.0 3.0 x\n", r"line 2: malformed label line"),
    ("0\t1\ta\n2\t3\tb\tc\n", r"line 2: malformed label line .*4 tab-separated"),
    ("0\t1\ta\n3.0\t2.0\tback\n", r"line 2: box ends before it begins"),
    ("1\t2\tx\n\\\t300\t200\n", r"line 2: box ends before it begins"),
    ("-1\t2\tx\n\\\t0\t200\n", r"line 1: box has a negative time"),
    ("nan\t2\tx\n\\\t0\t200\n", r"line 1: start time: 'nan' is not a number"),
])
def test_malformed_audacity_files_name_file_and_line(tmp_path, body, match):
    p = tmp_path / "bad_labels.txt"
    p.write_text(body)
    with pytest.raises(AnnotationError, match=r"bad_labels\.txt, " + match):
        A.read_audacity_labels(p, nyquist=NYQ)


def test_audacity_bad_nyquist(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("1\t2\tx\n")
    with pytest.raises(ParameterError, match="nyquist=-5"):
        A.read_audacity_labels(p, nyquist=-5)


def test_empty_audacity_file(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("")
    assert A.read_audacity_labels(p) == []


# -- JSON --------------------------------------------------------------------------------------

AWKWARD = [Box(0.1, 0.1 + 0.2, 1 / 3, 2 / 3 * 1e4, 'say "hi"\tnow\nthen ✓'),
           Box(5e-324, 1e-300, 0.0, 1.7976931348623157e308, ""),
           Box(2, 2, 7, 7, "\u2028odd\\")]


def test_json_round_trip_is_exact(tmp_path):
    p = tmp_path / "boxes.json"
    A.write_boxes_json(p, AWKWARD, audio="clip é.wav")
    back = A.read_boxes_json(p)
    assert back == AWKWARD
    assert [(b.t0, b.t1, b.f0, b.f1) for b in back] == [
        (float(b.t0), float(b.t1), float(b.f0), float(b.f1)) for b in AWKWARD]
    doc = json.loads(p.read_text(encoding="utf-8"))
    assert doc["format"] == "specview-boxes" and doc["version"] == 1
    assert doc["audio"] == "clip é.wav" and len(doc["boxes"]) == 3
    q = tmp_path / "again.json"
    A.write_boxes_json(q, back, audio="clip é.wav")
    assert q.read_bytes() == p.read_bytes()


def test_json_known_answer_and_empty(tmp_path):
    assert A.format_boxes_json([Box(0.5, 1.25, 100, 2000, "whine")], audio="clip.wav") == (
        '{\n  "format": "specview-boxes",\n  "version": 1,\n  "audio": "clip.wav",\n'
        '  "boxes": [\n    {"t0": 0.5, "t1": 1.25, "f0": 100.0, "f1": 2000.0, "label": "whine"}\n'
        "  ]\n}\n")
    p = tmp_path / "e.json"
    A.write_boxes_json(p, [])
    assert json.loads(p.read_text()) == {"format": "specview-boxes", "version": 1, "audio": None,
                                         "boxes": []}
    assert A.read_boxes_json(p) == []


def test_json_from_another_writer(tmp_path):
    p = tmp_path / "compact.json"
    p.write_text(json.dumps({"version": 1, "boxes": [{"f1": 9, "f0": 1, "t1": 2, "t0": 1}],
                             "format": "specview-boxes"}))
    assert A.read_boxes_json(p) == [Box(1.0, 2.0, 1.0, 9.0, "")]


def _doc(*boxes, **top):
    base = {"format": "specview-boxes", "version": 1, "audio": None, "boxes": list(boxes)}
    base.update(top)
    return base


def _pretty(doc):
    return json.dumps(doc, indent=2)


GOOD = {"t0": 0, "t1": 1, "f0": 2, "f1": 3, "label": "a"}


@pytest.mark.parametrize("text,match", [
    ('{"format": "specview-boxes",\n "version": 1,\n "boxes": [\n  {"t0": 1,, }\n]}',
     r"line 4, column \d+: not valid JSON"),
    ("", r"line 1, column 1: not valid JSON"),
    ("[1, 2]", r"line 1: expected a JSON object .* found an array"),
    ('"text"', r"line 1: expected a JSON object .* found a string"),
    (_pretty(_doc(GOOD, format="raven")), r"line 1: \"format\" is 'raven'"),
    (_pretty({"format": "specview-boxes", "boxes": []}), r"line 1: missing key 'version'"),
    (_pretty(_doc(version=2)), r"line 1: unknown version 2; this specview reads version 1"),
    (_pretty(_doc(version=True)), r"line 1: unknown version True"),
    (_pretty(_doc(extra=1)), r"line 1: unknown key\(s\) \['extra'\]"),
    (_pretty({"format": "specview-boxes", "version": 1}), r"line 1: missing key 'boxes'"),
    (_pretty(_doc(audio=3)), r"line 1: \"audio\" is 3"),
    (_pretty(_doc(boxes={"t0": 1})), r"line 5: \"boxes\" is an object; it must be a list"),
    (_pretty(_doc(GOOD, {"t0": 0, "t1": 1, "f0": 2})),
     r"line 13: boxes\[1\]: missing key\(s\) \['f1'\]"),
    (_pretty(_doc(GOOD, {**GOOD, "t1": "1.5"})), r"line 13: boxes\[1\]: 't1' is '1.5', not a number"),
    (_pretty(_doc(GOOD, {**GOOD, "f0": True})), r"line 13: boxes\[1\]: 'f0' is True, not a number"),
    (_pretty(_doc(GOOD, {**GOOD, "f0": None})), r"line 13: boxes\[1\]: 'f0' is None, not a number"),
    (_pretty(_doc({**GOOD, "t0": 5})), r"line 6: boxes\[0\]: box ends before it begins"),
    (_pretty(_doc({**GOOD, "f0": -5})), r"line 6: boxes\[0\]: box has a negative"),
    (_pretty(_doc({**GOOD, "T0": 5})), r"line 6: boxes\[0\]: unknown key\(s\) \['T0'\]"),
    (_pretty(_doc({**GOOD, "label": 7})), r"line 6: boxes\[0\]: \"label\" is 7"),
    (_pretty(_doc(GOOD, "box")), r"line 5: boxes\[1\]: 'box' is not an object"),
    ('{"format": "specview-boxes", "version": 1, "boxes": [{"t0": NaN, "t1": 1, "f0": 0, '
     '"f1": 1}]}', r"line 1: boxes\[0\]: box .* non-finite"),
    ('{"format": "specview-boxes", "version": 1, "boxes": [{"t0": 1e999, "t1": 1, "f0": 0, '
     '"f1": 1}]}', r"line 1: boxes\[0\]: box .* non-finite"),
    ('{"format": "specview-boxes",\n"version": 1, "version": 1, "boxes": []}',
     r"line 1: key 'version' appears twice"),
])
def test_malformed_json_names_file_and_line(tmp_path, text, match):
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(AnnotationError, match=r"bad\.json, " + match):
        A.read_boxes_json(p)


def test_json_is_never_executed(tmp_path):
    p = tmp_path / "evil.json"
    p.write_text('{"format": "specview-boxes", "version": 1, "boxes": [], '
                 '"audio": "__import__(\'os\').system(\'touch PWNED\')"}')
    assert A.read_boxes_json(p) == []
    assert not (tmp_path / "PWNED").exists()


def test_json_writer_checks_its_input(tmp_path):
    with pytest.raises(ParameterError, match="audio=3"):
        A.format_boxes_json([], audio=3)
    with pytest.raises(AnnotationError, match="box 1 .*ends before it begins"):
        A.format_boxes_json([Box(2, 1, 0, 1)])


# -- import / export ---------------------------------------------------------------------------

BOXES = [Box(3.0, 4.0, 100.0, 200.0, "late"), Box(0.5, 1.0, 10.0, 20.0, "early")]


@pytest.mark.parametrize("fmt,name", [("raven", "x.Table.1.selections.txt"), ("raven", "x.tsv"),
                                      ("audacity", "labels.txt"), ("audacity", "labels"),
                                      ("json", "boxes.json"), ("json", "boxes.dat")])
def test_export_then_import_any_format(tmp_path, fmt, name):
    p = tmp_path / name
    A.export_boxes(p, BOXES, fmt=fmt)
    assert A.detect_format(p) == fmt
    assert A.import_boxes(p, nyquist=NYQ) == BOXES  # in the order given


def test_import_detects_raven_by_its_header(tmp_path):
    p = tmp_path / "from_raven.txt"
    p.write_text("\nSelection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
                 "High Freq (Hz)\n1\tSpectrogram 1\t1\t0.5\t1.5\t100\t2000\n")
    assert A.import_boxes(p) == [Box(0.5, 1.5, 100.0, 2000.0, "")]


def test_import_audacity_needs_nyquist_for_bandless_labels(tmp_path):
    p = tmp_path / "labels.txt"
    p.write_text("1\t2\tx\n")
    assert A.import_boxes(p, nyquist=4000) == [Box(1.0, 2.0, 0.0, 4000.0, "x")]
    with pytest.raises(AnnotationError, match="nyquist"):
        A.import_boxes(p)


def test_import_errors_name_the_file(tmp_path):
    with pytest.raises(AnnotationError, match=r"missing\.txt: cannot read"):
        A.import_boxes(tmp_path / "missing.txt")
    p = tmp_path / "binary.txt"
    p.write_bytes(b"1\t2\tx\n3\t4\t\x81\x8d\n")
    with pytest.raises(AnnotationError, match=r"binary\.txt: cannot read it as text: line 2: "
                                              r"byte 0x81 is not text in UTF-8, UTF-16 or "
                                              r"Windows-1252"):
        A.import_boxes(p)
    q = tmp_path / "latin1.txt"  # Windows-1252 is read, not refused
    q.write_bytes("1\t2\tcaf\xe9\n".encode("cp1252"))
    assert A.import_boxes(q, nyquist=NYQ) == [Box(1, 2, 0, NYQ, "caf\xe9")]


def test_export_unknown_format(tmp_path):
    with pytest.raises(ParameterError, match=r"fmt='csv'.*raven"):
        A.export_boxes(tmp_path / "x", BOXES, fmt="csv")
    assert list(tmp_path.iterdir()) == []


def test_raven_labels_with_line_breaks_become_spaces(tmp_path):
    p = tmp_path / "r.txt"
    A.write_raven(p, [Box(0, 1, 2, 3, "a\tb\nc\rd\u2028e")])
    assert A.read_raven(p) == [Box(0, 1, 2, 3, "a b c d\u2028e")]


# -- sidecars ----------------------------------------------------------------------------------


def test_sidecar_missing_is_empty_without_error(tmp_path):
    state = A.load_sidecar(tmp_path / "clip.wav")
    assert state == A.SidecarState(tmp_path / "clip.Table.1.selections.txt", [], None)
    with pytest.raises(AttributeError):
        state.error = "x"  # frozen


def test_sidecar_save_load_round_trip_sorted(tmp_path):
    audio = tmp_path / "clip.wav"
    path = A.save_sidecar(audio, BOXES)
    assert path == A.sidecar_path(audio)
    assert A.load_sidecar(audio) == A.SidecarState(path, A.sort_boxes(BOXES), None)


def test_saving_no_boxes_records_an_empty_table(tmp_path):
    audio = tmp_path / "clip.wav"
    A.save_sidecar(audio, BOXES)
    path = A.save_sidecar(audio, [])
    assert path.read_text().splitlines() == ["\t".join((*A.RAVEN_COLUMNS, "Annotation"))]
    state = A.load_sidecar(audio)
    assert state.boxes == [] and state.error is None and state.path.is_file()


BAD_SIDECAR = "this is\tnot a selection table\n1\t2\n"


def test_unparsable_sidecar_is_reported_and_never_overwritten(tmp_path):
    audio = tmp_path / "clip.wav"
    side = A.sidecar_path(audio)
    side.write_text(BAD_SIDECAR)
    state = A.load_sidecar(audio)
    assert state.boxes == [] and "not a Raven selection table" in state.error
    assert str(side) in state.error and "line 1" in state.error
    with pytest.raises(AnnotationError, match=r"kept unchanged.*keep_aside.*overwrite_unparsable"):
        A.save_sidecar(audio, BOXES)
    assert side.read_text() == BAD_SIDECAR
    with pytest.raises(AnnotationError, match="kept unchanged"):
        A.save_sidecar(audio, [])
    assert side.read_text() == BAD_SIDECAR
    assert sorted(q.name for q in tmp_path.iterdir()) == [side.name]


def test_unreadable_bytes_sidecar_is_kept(tmp_path):
    audio = tmp_path / "clip.wav"
    side = A.sidecar_path(audio)
    side.write_bytes(b"\xff\xfe\x00garbage")
    assert A.load_sidecar(audio).error  # not text, or not a Raven table
    with pytest.raises(AnnotationError, match="kept unchanged"):
        A.save_sidecar(audio, BOXES)
    assert side.read_bytes() == b"\xff\xfe\x00garbage"


def test_overwrite_unparsable_on_request(tmp_path):
    audio = tmp_path / "clip.wav"
    side = A.sidecar_path(audio)
    side.write_text(BAD_SIDECAR)
    A.save_sidecar(audio, BOXES, overwrite_unparsable=True)
    assert A.load_sidecar(audio).boxes == A.sort_boxes(BOXES)


def test_keep_aside_then_start_fresh(tmp_path):
    audio = tmp_path / "clip.wav"
    side = A.sidecar_path(audio)
    side.write_text(BAD_SIDECAR)
    moved = A.keep_aside(side)
    assert re.fullmatch(re.escape(side.name) + r"\.unreadable-\d{8}-\d{6}", moved.name)
    assert moved.parent == side.parent and moved.read_text() == BAD_SIDECAR
    assert not side.exists()
    assert A.load_sidecar(audio) == A.SidecarState(side, [], None)
    A.save_sidecar(audio, BOXES)
    assert A.load_sidecar(audio).boxes == A.sort_boxes(BOXES)
    assert moved.read_text() == BAD_SIDECAR


def test_keep_aside_never_replaces_an_earlier_one(tmp_path, monkeypatch):
    side = tmp_path / "clip.Table.1.selections.txt"
    names = []
    for i in range(3):
        side.write_text(f"bad {i}")
        names.append(A.keep_aside(side))
    assert len(set(names)) == 3  # unique even within the same second
    assert sorted(p.read_text() for p in names) == ["bad 0", "bad 1", "bad 2"]
    with pytest.raises(AnnotationError, match="nothing to keep aside"):
        A.keep_aside(side)


def test_save_sidecar_refuses_invalid_boxes_before_writing(tmp_path):
    audio = tmp_path / "clip.wav"
    A.save_sidecar(audio, BOXES)
    before = A.sidecar_path(audio).read_bytes()
    with pytest.raises(AnnotationError, match="ends before it begins"):
        A.save_sidecar(audio, [Box(2, 1, 0, 5)])
    assert A.sidecar_path(audio).read_bytes() == before


# -- interrupted writes ------------------------------------------------------------------------


def _raise(*a, **k):
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("where", ["fsync", "replace", "interrupt"])
def test_interrupted_write_leaves_previous_file_intact(tmp_path, monkeypatch, where):
    audio = tmp_path / "clip.wav"
    side = A.save_sidecar(audio, BOXES)
    before = side.read_bytes()
    if where == "fsync":
        monkeypatch.setattr(os, "fsync", _raise)
    elif where == "replace":
        monkeypatch.setattr(os, "replace", _raise)
    else:
        def interrupt(*a, **k):
            raise KeyboardInterrupt
        monkeypatch.setattr(os, "replace", interrupt)
    expected = KeyboardInterrupt if where == "interrupt" else A.AnnotationWriteError
    with pytest.raises(expected) as info:
        A.save_sidecar(audio, [Box(0, 9, 0, 9, "new " * 1000)])
    monkeypatch.undo()
    if expected is not KeyboardInterrupt:
        assert isinstance(info.value, OSError) and isinstance(info.value, AnnotationError)
        assert str(side) in str(info.value) and "unchanged" in str(info.value)
    assert side.read_bytes() == before
    assert [q.name for q in tmp_path.iterdir()] == [side.name]


def test_write_into_missing_folder_creates_it(tmp_path):
    p = tmp_path / "a" / "b" / "x.json"
    A.write_boxes_json(p, BOXES)
    assert A.read_boxes_json(p) == BOXES


def test_write_error_when_target_is_a_folder(tmp_path):
    target = tmp_path / "clip.Table.1.selections.txt"
    target.mkdir()
    with pytest.raises(A.AnnotationWriteError, match="could not write"):
        A.atomic_write_text(target, "x")
    assert [q.name for q in tmp_path.iterdir()] == [target.name]
