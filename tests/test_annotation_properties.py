"""Property-based round trips (hypothesis): Raven tables with arbitrary extra columns, views,
selection numbers, encodings and line endings; Audacity labels; JSON boxes with any text."""

import codecs
import dataclasses
import re
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specview import annotations as A
from specview.errors import SpecviewWarning
from specview.tabletext import decode
from specview.types import Box

H = ("Selection", "View", "Channel", "Begin Time (s)", "End Time (s)", "Low Freq (Hz)",
     "High Freq (Hz)")
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

# cell text: no tab or line break (Raven has no escaping); quotes and non-ASCII welcome
# (NUL is not text: tables holding it are refused as binary, and the writers never write it)
_cp1252 = st.characters(codec="cp1252", exclude_characters="\t\r\n\0")
_any = st.characters(exclude_characters="\t\r\n\0", exclude_categories=("Cs",))


def _cells(alphabet):
    return st.text(alphabet, max_size=8)


def _number_text(x: float, style: int) -> str:
    return (repr(x), f"{x:.3f}", f"{x:.9f}")[style]


@st.composite
def raven_tables(draw):
    encoding = draw(st.sampled_from(["utf-8", "utf-16-le", "cp1252"]))
    alphabet = _cp1252 if encoding == "cp1252" else _any
    n_extra = draw(st.integers(0, 4))
    names = draw(st.lists(st.text(alphabet, min_size=1, max_size=10).map(str.strip)
                          .filter(lambda s: s and s not in H), min_size=n_extra,
                          max_size=n_extra, unique_by=str.casefold))
    views = draw(st.lists(st.sampled_from(["Spectrogram 1", "Waveform 1", "Spectrogram 2"]),
                          min_size=1, max_size=3, unique=True))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        sel = draw(st.one_of(st.integers(1, 9).map(str), st.just("")))
        t0 = draw(st.floats(0, 1000, allow_nan=False))
        t1 = t0 + draw(st.floats(0, 10, allow_nan=False))
        f0 = draw(st.floats(0, 20000, allow_nan=False))
        f1 = f0 + draw(st.floats(0, 5000, allow_nan=False))
        style = draw(st.integers(0, 2))
        coords = [_number_text(v, style) for v in (t0, t1, f0, f1)]
        if any(float(c) > float(d) for c, d in ((coords[0], coords[1]), (coords[2], coords[3]))):
            coords = [repr(v) for v in (t0, t1, f0, f1)]
        chan = draw(st.sampled_from(["1", "2"]))
        for view in views:
            extra = [draw(_cells(alphabet)) for _ in names]
            rows.append("\t".join([sel, view, chan, *coords, *extra]))
    header = "\t".join([*H, *names])
    final = draw(st.booleans()) or not rows
    text = newline.join([header, *rows]) + (newline if final else "")
    return text, encoding


def _write(tmp_path, text, encoding):
    audio = tmp_path / "rec.wav"
    side = A.sidecar_path(audio)
    for p in tmp_path.iterdir():
        p.unlink()
    side.write_bytes(text.encode(encoding))
    return audio, side


def _rows(side, encoding):
    """Lines with their terminators; only CR and LF end a line (as in the readers).

    Decoded as the readers decode (a Windows-1252 table whose bytes happen to be valid UTF-8
    is UTF-8 to them)."""
    text = decode(side.read_bytes())[0]
    return [m.group(0) for m in re.finditer(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)]


def _save(audio, side, boxes) -> None:
    """``save_sidecar``; the one warning allowed: a Windows-1252 table whose new bytes would read
    back as other text (valid UTF-8) is switched to UTF-8 with a byte-order mark."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        A.save_sidecar(audio, boxes)
    switched = [w for w in caught if "byte-order mark" in str(w.message)]
    assert [w for w in caught if w not in switched] == []
    if switched:
        assert issubclass(switched[0].category, SpecviewWarning)
        assert side.read_bytes().startswith(codecs.BOM_UTF8)


@SETTINGS
@given(table=raven_tables(), data=st.data())
def test_raven_edit_delete_add_touch_only_what_changed(tmp_path, table, data):
    text, encoding = table
    audio, side = _write(tmp_path, text, encoding)
    before = side.read_bytes()
    state = A.load_sidecar(audio)
    assert state.error is None, state.error
    boxes = state.boxes
    A.save_sidecar(audio, boxes)
    assert side.read_bytes() == before  # an unedited save changes nothing
    if not boxes:
        return
    old_lines = _rows(side, encoding)
    # edit one box: only its rows change
    k = data.draw(st.integers(0, len(boxes) - 1))
    label = data.draw(_cells(_cp1252 if encoding == "cp1252" else _any).map(str.strip))
    edited = dataclasses.replace(boxes[k], t1=boxes[k].t1 + 1.0, label=label)
    _save(audio, side, [*boxes[:k], edited, *boxes[k + 1:]])
    new_lines = _rows(side, encoding)
    assert len(new_lines) == len(old_lines)
    if state.label_column is None and label:  # the label needs a column: one is added
        assert new_lines[0] == old_lines[0].rstrip("\r\n") + "\tAnnotation" + old_lines[0][
            len(old_lines[0].rstrip("\r\n")):]
    mine = set(boxes[k].source.lines)
    for a, b in zip(old_lines[1:], new_lines[1:], strict=True):
        if a.rstrip("\r\n") not in mine:
            assert a == b
    # (the same label column: the fallback rule looks at the cells, which the edit changed)
    col = state.label_column
    back = A.load_sidecar(audio, label_column=col).boxes
    assert back[k] == edited
    assert back[:k] + back[k + 1:] == boxes[:k] + boxes[k + 1:]
    assert [b.extra for b in back[:k] + back[k + 1:]] == [
        b.extra for b in boxes[:k] + boxes[k + 1:]]
    # delete a subset: exactly their rows go, the others stay in order
    side.write_bytes(before)
    boxes = A.load_sidecar(audio, label_column=col).boxes
    keep = data.draw(st.lists(st.booleans(), min_size=len(boxes), max_size=len(boxes)))
    kept = [b for b, f in zip(boxes, keep, strict=True) if f]
    groups = A.read_raven_table(side, label_column=col).groups  # box k <-> group k
    _save(audio, side, kept)
    gone = {r for g, f in zip(groups, keep, strict=True) if not f for r in g.rows}
    expected = [ln for i, ln in enumerate(old_lines) if i not in gone]
    assert _rows(side, encoding) == expected
    assert A.load_sidecar(audio, label_column=col).boxes == kept
    # add one: every old row stays, the new box reads back with a fresh selection number
    side.write_bytes(before)
    boxes = A.load_sidecar(audio, label_column=col).boxes
    new = Box(1.0, 2.0, 300.0, 400.0, "new")
    _save(audio, side, boxes + [new])
    after = _rows(side, encoding)
    assert after[0].startswith(old_lines[0].rstrip("\r\n"))  # + "Annotation" if it had none
    assert [ln.rstrip("\r\n") for ln in after[1:len(old_lines)]] == [
        ln.rstrip("\r\n") for ln in old_lines[1:]]
    back = A.load_sidecar(audio, label_column=col).boxes
    assert back == boxes + [new]
    used = {b.selection for b in boxes}
    assert back[-1].selection not in used


@SETTINGS
@given(table=raven_tables())
def test_raven_to_json_and_back_into_a_new_table_keeps_every_column(tmp_path, table):
    text, encoding = table
    audio, side = _write(tmp_path, text, encoding)
    boxes = A.load_sidecar(audio).boxes
    js = tmp_path / "boxes.json"
    A.write_boxes_json(js, boxes)
    back = A.read_boxes_json(js)
    assert back == boxes
    assert [(b.selection, b.channel, b.extra) for b in back] == [
        (b.selection, b.channel, b.extra) for b in boxes]
    other = tmp_path / "fresh.wav"
    A.save_sidecar(other, back)
    again = A.load_sidecar(other)  # labels now sit in "Annotation", the rest as before
    assert sorted(again.boxes, key=_key) == sorted(boxes, key=_key)
    def rows(bs):
        return sorted((_key(b), sorted(b.extra.items())) for b in bs)

    assert rows(again.boxes) == rows(boxes)
    # a Raven export of the table's boxes is the table again, row for row
    if not boxes:
        return
    out = tmp_path / "export.txt"
    A.write_raven(out, boxes)
    assert out.read_bytes() == side.read_bytes()


def _key(b):
    return (b.t0, b.t1, b.f0, b.f1, b.label)


_label = st.text(st.characters(exclude_characters="\t\r\n\0", exclude_categories=("Cs",)),
                 max_size=12)
_boxes = st.lists(
    st.tuples(st.floats(0, 1e4, allow_nan=False), st.floats(0, 100, allow_nan=False),
              st.floats(0, 1e5, allow_nan=False), st.floats(0, 1e4, allow_nan=False), _label)
    .map(lambda v: Box(v[0], v[0] + v[1], v[2], v[2] + v[3], v[4])),
    max_size=20)


@SETTINGS
@given(boxes=_boxes)
def test_audacity_round_trip_is_exact_and_stable(tmp_path, boxes):
    p, q = tmp_path / "a.txt", tmp_path / "b.txt"
    A.write_audacity_labels(p, boxes)
    back = A.read_audacity_labels(p)
    assert back == boxes
    A.write_audacity_labels(q, back)
    assert q.read_bytes() == p.read_bytes()


@SETTINGS
@given(data=st.data())
def test_audacity_files_as_written_by_hand_come_back_byte_identical(tmp_path, data):
    lines = []
    for _ in range(data.draw(st.integers(0, 8))):
        t0 = data.draw(st.floats(0, 1000, allow_nan=False))
        t1 = t0 + data.draw(st.floats(0, 10, allow_nan=False))
        fmt = data.draw(st.sampled_from(["{:.6f}", "{!r}", "{:.2f}"]))
        a, b = fmt.format(t0), fmt.format(t1)
        if float(a) > float(b):
            a, b = repr(t0), repr(t1)
        lab = data.draw(_label)
        lines.append(f"{a}\t{b}\t{lab}\n" if lab or data.draw(st.booleans()) else f"{a}\t{b}\n")
        if data.draw(st.booleans()):
            f0 = data.draw(st.floats(0, 10000, allow_nan=False))
            lines.append(f"\\\t{f0:.6f}\t{f0 + 100:.6f}\n")
    p = tmp_path / "labels.txt"
    p.write_text("".join(lines))
    boxes = A.read_audacity_labels(p, nyquist=22050.0)
    out = tmp_path / "out.txt"
    A.write_audacity_labels(out, boxes)
    assert out.read_text() == p.read_text()


_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


@SETTINGS
@given(boxes=st.lists(st.tuples(
    st.floats(0, 1e4, allow_nan=False), st.floats(0, 100, allow_nan=False),
    st.floats(0, 1e5, allow_nan=False), st.floats(0, 1e4, allow_nan=False), _text,
    st.one_of(st.none(), st.integers(0, 10**6)),
    st.dictionaries(_text, _text, max_size=4)), max_size=15))
def test_json_round_trip_holds_any_text(tmp_path, boxes):
    boxes = [Box(t0, t0 + d, f0, f0 + w, lab, selection=sel, extra=ex)
             for t0, d, f0, w, lab, sel, ex in boxes]
    p = tmp_path / "b.json"
    A.write_boxes_json(p, boxes, audio="clip \"1\".wav")
    back = A.read_boxes_json(p)
    assert back == boxes
    assert [(b.selection, b.extra) for b in back] == [(b.selection, b.extra) for b in boxes]


@SETTINGS
@given(labels=st.lists(st.text(st.characters(exclude_categories=("Cs",)), max_size=10),
                       min_size=1, max_size=6))
def test_raven_labels_with_tabs_and_line_breaks_are_written_as_spaces(tmp_path, labels):
    """Raven has no escaping: tab, CR, LF (and NUL) become spaces, nothing else changes."""
    boxes = [Box(i, i + 1.0, 10.0, 20.0, lab) for i, lab in enumerate(labels)]
    audio = tmp_path / "rec.wav"
    A.save_sidecar(audio, boxes)
    back = A.load_sidecar(audio).boxes
    expected = [re.sub(r"[\t\r\n\0]", " ", lab).strip() for lab in labels]
    assert [b.label for b in back] == expected
    assert [(b.t0, b.t1, b.f0, b.f1) for b in back] == [(b.t0, b.t1, b.f0, b.f1) for b in boxes]
    A.sidecar_path(audio).unlink()


def test_a_cp1252_edit_that_would_read_back_as_utf8_switches_to_utf8_with_bom(tmp_path):
    """Found by hypothesis: header cell ``Â¡`` (C2 A1: valid UTF-8 for ``¡``) in a Windows-1252
    table kept Windows-1252 by a row's ``\xa0`` cell; deleting that row left bytes that read
    back as UTF-8, so the header turned into ``¡``. The save switches to UTF-8 with a BOM."""
    head = "\t".join([*H, "Â¡"])
    text = head + "\n\tSpectrogram 1\t1\t0.0\t1.0\t10.0\t20.0\t\xa0\n"
    audio, side = _write(tmp_path, text, "cp1252")
    assert len(A.load_sidecar(audio).boxes) == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        A.save_sidecar(audio, [])
    assert len(caught) == 1 and "byte-order mark" in str(caught[0].message)
    data = side.read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    assert data[3:].decode("utf-8") == head + "\n"
    assert A.load_sidecar(audio).columns == [*H, "Â¡"]
