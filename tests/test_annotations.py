import os

import pytest

from specview import annotations as A
from specview.errors import AnnotationError
from specview.types import Box


def test_raven_round_trip_is_exact(tmp_path):
    boxes = [Box(0.1, 0.35000000000000003, 120.5, 3999.9999, "whine"),
             Box(1 / 3, 2 / 3, 0.0, 22050.0, "impact, loud"), Box(2.0, 2.0, 5.0, 5.0, "")]
    p = tmp_path / "a.Table.1.selections.txt"
    A.write_raven(p, boxes)
    assert A.read_raven(p) == boxes
    assert p.read_text().splitlines()[0].split("\t")[:7] == list(A.RAVEN_COLUMNS)


def test_raven_from_another_tool_with_two_views(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text(
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies\n"
        "1\tWaveform 1\t1\t0.5\t1.5\t100\t2000\tA\n"
        "1\tSpectrogram 1\t1\t0.5\t1.5\t100\t2000\tA\n"
        "2\tSpectrogram 1\t1\t2\t3\t50\t60\tB\n"
    )
    assert A.read_raven(p) == [Box(0.5, 1.5, 100, 2000, "A"), Box(2, 3, 50, 60, "B")]


@pytest.mark.parametrize("body,match", [
    ("Selection\tBegin Time (s)\n1\t0.1\n", "missing column"),
    ("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\n"
     "1\tS\t1\tabc\t1\t2\t3\n", r"line 2, column 4 \(Begin Time \(s\)\): .abc. is not a number"),
    ("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\n"
     "1\tS\t1\t2\t1\t2\t3\n", "ends before it begins"),
])
def test_malformed_tables_are_refused(tmp_path, body, match):
    p = tmp_path / "bad.txt"
    p.write_text(body)
    with pytest.raises(AnnotationError, match=match):
        A.read_raven(p)


def test_interrupted_write_leaves_previous_file(tmp_path, monkeypatch):
    p = tmp_path / "a.Table.1.selections.txt"
    A.write_raven(p, [Box(0, 1, 2, 3, "old")])
    before = p.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        A.write_raven(p, [Box(0, 1, 2, 3, "new")])
    assert p.read_bytes() == before
    assert [q.name for q in tmp_path.iterdir()] == [p.name]  # no temporary left behind


def test_sidecar_name():
    assert A.sidecar_path("/d/test/anomaly_001.wav").name == "anomaly_001.Table.1.selections.txt"


def test_raven_line_numbers_count_blank_lines(tmp_path):
    p = tmp_path / "gaps.txt"
    p.write_text(
        "\nSelection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\n"
        "\n1\tS\t1\t0\t1\t2\t3\n\n2\tS\t1\t5\t1\t2\t3\n"
    )
    with pytest.raises(AnnotationError, match=r"gaps\.txt, line 6: box ends before it begins"):
        A.read_raven(p)


def test_raven_reads_crlf_and_cr_line_ends(tmp_path):
    header = "\t".join(A.RAVEN_COLUMNS) + "\tAnnotation"
    for end in ("\r\n", "\r"):
        p = tmp_path / "w.txt"
        p.write_bytes((header + end + "1\tS\t1\t0.5\t1\t2\t3\tlabel" + end).encode())
        assert A.read_raven(p) == [Box(0.5, 1.0, 2.0, 3.0, "label")]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_rewrite_keeps_permissions_and_new_files_follow_umask(tmp_path):
    p = tmp_path / "a.Table.1.selections.txt"
    A.write_raven(p, [Box(0, 1, 2, 3, "old")])
    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    os.chmod(p, 0o640)
    A.write_raven(p, [Box(0, 1, 2, 3, "new")])
    assert p.stat().st_mode & 0o777 == 0o640
    assert A.read_raven(p)[0].label == "new"


def test_write_failure_is_an_annotation_error_naming_the_file(tmp_path, monkeypatch):
    p = tmp_path / "a.Table.1.selections.txt"

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(AnnotationError, match=r"a\.Table\.1\.selections\.txt: could not write .*No "
                                              r"space left.*unchanged"):
        A.write_raven(p, [Box(0, 1, 2, 3)])
    assert list(tmp_path.iterdir()) == []
