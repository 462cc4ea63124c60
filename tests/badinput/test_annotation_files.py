"""The bad-input suite for annotation files: every malformed Raven table, Audacity label file and
JSON box file is refused by ``specview boxes`` in one line naming the file, line and column
(exit status 2, no traceback), and the file — like everything else in the case folder — is
byte-identical afterwards. The window's sidecar path (``save_sidecar`` over a file it cannot
read) is checked at the end."""

from __future__ import annotations

import pytest
from badinput_harness import assert_refused, assert_unchanged, snapshot

from specview import annotations as A
from specview.errors import AnnotationError
from specview.types import Box

H = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)"
HS = H + "\tSpecies"


def row(t0="0.5", t1="1.0", f0="100", f1="2000", label="x", sel="1", extra=""):
    return f"{sel}\tSpectrogram 1\t1\t{t0}\t{t1}\t{f0}\t{f1}\t{label}{extra}\n"


def raven(*rows, header=HS):
    return (header + "\n" + "".join(rows)).encode()


RAVEN = [
    ("missing-columns", b"Selection\tBegin Time (s)\n1\t0.1\n",
     r"not a Raven selection table: missing column\(s\) \['End Time \(s\)'"),
    ("comma-separated", b"Selection,View,Channel,Begin Time (s),End Time (s),Low Freq (Hz),"
                        b"High Freq (Hz)\n1,S,1,0,1,2,3\n", "not tab-separated"),
    ("no-units", raven(row(), header="Selection\tView\tChannel\tBegin Time\tEnd Time\t"
                                     "Low Freq\tHigh Freq\tSpecies"),
     r"look like Raven's but are not spelled as Raven writes them"),
    ("lower-case", raven(row(), header=HS.lower()), r"look like Raven's"),
    ("semicolons", b"Selection;Begin Time (s);End Time (s)\n", "not tab-separated"),
    *[(f"text-{c}", raven(row(), row(**{c: "abc"})), rf"line 3, column {i} .*'abc' is not a "
                                                      "number")
      for i, c in ((4, "t0"), (5, "t1"), (6, "f0"), (7, "f1"))],
    *[(f"empty-{c}", raven(row(**{c: " "})), rf"line 2, column {i} .*the cell is empty")
      for i, c in ((4, "t0"), (5, "t1"), (6, "f0"), (7, "f1"))],
    *[(f"thousands-{k}", raven(row(f1=v)), rf"line 2, column 7 \(High Freq \(Hz\)\): .{v}. is "
                                           "ambiguous")
      for k, v in (("comma", "1,000"), ("comma2", "12,345"), ("dot-comma", "1.000,5"),
                   ("space", "1 000"), ("underscore", "1_000"), ("apostrophe", "1'000"),
                   ("millions", "1,000,000"))],
    *[(f"not-a-number-{k}", raven(row(t1=v)), rf"line 2, column 5 .*'{v}' is not a")
      for k, v in (("hex", "0x10"), ("inf", "inf"), ("nan", "nan"), ("infinity", "Infinity"),
                   ("unit", "1.5s"), ("two-dots", "1.2.3"))],
    ("overflow", raven(row(t1="1e999")), r"column 5 .*'1e999' is not a finite number"),
    ("inverted-time", raven(row(t0="2", t1="1")), r"line 2: box ends before it begins"),
    ("inverted-freq", raven(row(f0="300", f1="200")), r"line 2: box ends before it begins"),
    ("negative-time", raven(row(t0="-1")), r"line 2: box has a negative time"),
    ("negative-freq", raven(row(f0="-5")), r"line 2: box has a negative time or frequency"),
    ("bad-file-offset", raven(
        "1\tSpectrogram 1\t1\t0\t1\t2\t3\tx\ta.wav\tsoon\n",
        header=HS + "\tBegin File\tFile Offset (s)"),
     r"line 2, column 10 \(File Offset \(s\)\): 'soon' is not a number"),
    ("nul-bytes", HS.encode() + b"\n1\tSpectrogram 1\t1\t0\t1\t2\t3\tx\x00\x00\n",
     r"holds NUL characters"),
    ("undefined-cp1252", HS.encode() + b"\n" + row(label="caf").encode()[:-1] + b"\x81\x8d\n",
     r"byte 0x81 is not text in UTF-8, UTF-16 or Windows-1252"),
    ("utf32", "\ufeff".encode("utf-32-le") + (HS + "\n").encode("utf-32-le"),
     r"UTF-32 text; save it as UTF-8"),
    ("bad-utf16-bom", b"\xff\xfe" + b"\x00\xd8" + b"a\x00", r"says it is utf-16-le"),
]

AUDACITY = [
    ("one-field", b"1.5\n", r"line 1: malformed label line .*1 tab-separated"),
    ("four-fields", b"1\t2\ta\tb\n", r"line 1: malformed label line .*4 tab-separated"),
    ("spaces", b"0\t1\ta\n\\\t1\t2\n2.0 3.0 x\n", r"line 3: malformed label line"),
    ("freq-first", b"\\\t10\t20\n1\t2\tx\n", r"line 1: frequency line .* does not follow"),
    ("freq-short", b"1\t2\tx\n\\\t10\n", r"line 2: malformed frequency line"),
    ("freq-text", b"1\t2\tx\n\\\t10\toops\n", r"line 2: high frequency: 'oops' is not a number"),
    ("time-text", b"1\tabc\tx\n", r"line 1: end time: 'abc' is not a number"),
    ("inverted", b"3\t2\tx\n", r"line 1: box ends before it begins"),
    ("inverted-band", b"1\t2\tx\n\\\t300\t200\n", r"line 2: box ends before it begins"),
    ("negative", b"-1\t2\tx\n", r"line 1: box has a negative time"),
    ("end-minus-one", b"0\t33.2\tda\n\\\t0\t8000\n50.1\t-1\tdu\n",
     r"line 3: end time -1\.0 s is negative"),
    ("nan", b"nan\t2\tx\n", r"line 1: start time: 'nan' is not a number"),
    ("thousands", b"1,000\t2,000\tx\n", r"line 1: start time: '1,000' is ambiguous"),
    ("no-band-no-nyquist", b"1\t2\tx\n", r"label 'x' has no frequency band.*nyquist"),
    ("sonic-visualiser-csv", b"0.500000000,1.250000000,440,note\n",
     r"comma-separated values .*Sonic Visualiser"),
    ("raven-like-header", b"selection\tbegin_time\tend_time\n1\t0\t1\n",
     r"looks like a Raven table whose header is not Raven's"),
    ("svl", b'<?xml version="1.0"?>\n<sv/>\n', r"XML file .*Sonic Visualiser"),
]

JSON = [
    ("not-json", b"{ nope", r"line 1, column 3: not valid JSON"),
    ("a-list", b"[1, 2]\n", r"expected a JSON object"),
    ("wrong-format", b'{"format": "labels", "version": 1, "boxes": []}',
     r"\"format\" is 'labels'"),
    ("no-version", b'{"format": "specview-boxes", "boxes": []}', r"missing key 'version'"),
    ("version-2", b'{"format": "specview-boxes", "version": 2, "boxes": []}',
     r"unknown version 2"),
    ("version-text", b'{"format": "specview-boxes", "version": "1", "boxes": []}',
     r"unknown version '1'"),
    ("unknown-key", b'{"format": "specview-boxes", "version": 1, "boxes": [], "x": 1}',
     r"unknown key\(s\) \['x'\]"),
    ("no-boxes", b'{"format": "specview-boxes", "version": 1}', r"missing key 'boxes'"),
    ("boxes-object", b'{"format": "specview-boxes", "version": 1, "boxes": {}}',
     r"\"boxes\" is an object"),
    ("box-number", b'{"format": "specview-boxes", "version": 1, "boxes": [3]}',
     r"boxes\[0\]: 3 is not an object"),
    ("missing-t0", b'{"format": "specview-boxes", "version": 1,\n "boxes": [\n'
                   b'{"t1": 1, "f0": 0, "f1": 1}]}', r"line 3: boxes\[0\]: missing key\(s\) \['t0'\]"),
    ("text-t0", b'{"format": "specview-boxes", "version": 1, "boxes": ['
                b'{"t0": "1", "t1": 1, "f0": 0, "f1": 1}]}', r"'t0' is '1', not a number"),
    ("bool-f1", b'{"format": "specview-boxes", "version": 1, "boxes": ['
                b'{"t0": 0, "t1": 1, "f0": 0, "f1": true}]}', r"'f1' is True, not a number"),
    ("label-number", b'{"format": "specview-boxes", "version": 1, "boxes": ['
                     b'{"t0": 0, "t1": 1, "f0": 0, "f1": 1, "label": 5}]}',
     r"\"label\" is 5; write it as a string"),
    ("duplicate-key", b'{"format": "specview-boxes", "version": 1, "boxes": ['
                      b'{"t0": 0, "t0": 1, "t1": 1, "f0": 0, "f1": 1}]}',
     r"key 't0' appears twice"),
    ("extra-list", b'{"format": "specview-boxes", "version": 1, "boxes": ['
                   b'{"t0": 0, "t1": 1, "f0": 0, "f1": 1, "extra": [1]}]}',
     r"\"extra\" must be an object of text values"),
    ("selection-negative", b'{"format": "specview-boxes", "version": 1, "boxes": ['
                           b'{"t0": 0, "t1": 1, "f0": 0, "f1": 1, "selection": -3}]}',
     r"'selection' is -3; write a whole number"),
    ("huge-number", b'{"format": "specview-boxes", "version": 1, "boxes": [{"t0": 1e999, '
                    b'"t1": 1, "f0": 0, "f1": 1}]}', r"non-finite"),
    ("nan-literal", b'{"format": "specview-boxes", "version": 1, "boxes": [{"t0": NaN, '
                    b'"t1": 1, "f0": 0, "f1": 1}]}', r"non-finite"),
    ("inverted", b'{"format": "specview-boxes", "version": 1, "boxes": [{"t0": 2, '
                 b'"t1": 1, "f0": 0, "f1": 1}]}', r"boxes\[0\]: box ends before it begins"),
]

CASES = ([("raven", *c) for c in RAVEN] + [("audacity", *c) for c in AUDACITY]
         + [("json", *c) for c in JSON])


@pytest.mark.parametrize("kind,name,data,pattern", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_malformed_annotation_files_are_refused_in_one_line(tmp_path, cli, kind, name, data,
                                                            pattern):
    suffix = ".json" if kind == "json" else ".txt"
    path = tmp_path / f"{name}{suffix}"
    path.write_bytes(data)
    before = snapshot(tmp_path)
    o = cli("boxes", path)
    assert_refused(o, pattern)
    assert path.name in o.err  # the file is named
    assert_unchanged(before, snapshot(tmp_path))


OPTION_CASES = [
    ("label-column-missing", ["--label-column", "Kind"], r"no column 'Kind' to take labels from"),
    ("label-column-standard", ["--label-column", "begin time (s)"], r"holds Raven's own values"),
    ("to-without-out", ["--to", "json"], r"--to and --out go together"),
    ("out-is-input", ["--to", "raven", "--out", "{table}"], r"is the input file"),
    ("out-is-folder", ["--to", "raven", "--out", "{dir}"], r"folder|directory"),
    ("out-unknown-format", ["--to", "csv", "--out", "x.csv"], r"invalid choice: 'csv'"),
    ("nyquist-zero", ["--nyquist", "0"], r"--nyquist: 0: must be > 0"),
    ("nyquist-text", ["--nyquist", "lots"], r"--nyquist: 'lots' is not a number"),
    ("audio-missing", ["--audio", "{dir}/nope.wav"], r"nope\.wav"),
]


@pytest.mark.parametrize("name,args,pattern", OPTION_CASES, ids=[c[0] for c in OPTION_CASES])
def test_bad_options_of_boxes_are_refused(tmp_path, cli, name, args, pattern):
    table = tmp_path / "t.Table.1.selections.txt"
    table.write_bytes(raven(row()))
    (tmp_path / "out").mkdir()
    args = [a.format(table=table, dir=tmp_path / "out") for a in args]
    before = snapshot(tmp_path)
    o = cli("boxes", table, *args)
    assert_refused(o, pattern)
    assert_unchanged(before, snapshot(tmp_path))


@pytest.mark.parametrize("what", ["missing", "folder"])
def test_unreadable_annotation_paths(tmp_path, cli, what):
    path = tmp_path / "labels.txt"
    if what == "folder":
        path.mkdir()
    before = snapshot(tmp_path)
    assert_refused(cli("boxes", path), r"labels\.txt: cannot read annotation file")
    assert_unchanged(before, snapshot(tmp_path))


@pytest.mark.parametrize("kind,name,data,pattern", [c for c in CASES if c[0] == "raven"],
                         ids=[c[1] for c in CASES if c[0] == "raven"])
def test_the_window_never_writes_over_a_sidecar_it_cannot_read(tmp_path, kind, name, data,
                                                               pattern):
    audio = tmp_path / "clip.wav"
    side = A.sidecar_path(audio)
    side.write_bytes(data)
    before = snapshot(tmp_path)
    state = A.load_sidecar(audio)
    assert state.error is not None and state.boxes == []
    with pytest.raises(AnnotationError, match="kept unchanged and the boxes were not saved"):
        A.save_sidecar(audio, [Box(0, 1, 2, 3, "new")])
    assert_unchanged(before, snapshot(tmp_path))
