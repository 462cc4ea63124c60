"""kill -9 against the sidecar writer on a user's Raven table: hundreds of writers, forked from
a small server process (tests/kill_writers.py) and killed at random moments while saving edits; the sidecar always parses to the
boxes of the old or the new save, its original is kept intact beside it, and the next save
leaves no temporary file behind."""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import time

import kill_writers
import pytest

from specview import annotations as A

KILLS = 300

TABLE = (
    "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\t"
    "Delta Time (s)\tSpecies\tNotes\r\n"
    + "".join(
        f"{i}\tWaveform 1\t1\t{i}.5\t{i}.75\t100.0\t200.0\t0.25\tsp{i}\tn{i}\r\n"
        f"{i}\tSpectrogram 1\t1\t{i}.5\t{i}.75\t100.0\t200.0\t0.25\tsp{i}\tn{i}\r\n"
        for i in range(1, 400))
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to start writers quickly")
def test_killed_sidecar_writes_leave_old_or_new_boxes_and_no_temp(tmp_path):
    audio = tmp_path / "rec.wav"
    side = A.sidecar_path(audio)
    side.write_bytes(TABLE.encode("utf-8"))
    boxes = A.load_sidecar(audio).boxes
    # two saves that differ in every box's label and in the number of boxes
    saves = ([dataclasses.replace(b, label=f"a{i}") for i, b in enumerate(boxes)],
             [dataclasses.replace(b, label=f"b{i}") for i, b in enumerate(boxes[:-50])])
    states = {tuple(boxes)} | {tuple(s) for s in saves}
    rng = random.Random(7)
    ctx = kill_writers.context()
    for k in range(KILLS):
        ours, theirs = ctx.Pipe(duplex=False)
        writer = ctx.Process(target=kill_writers.save_sidecar_until_killed,
                             args=(str(audio), saves, k, theirs), daemon=True)
        writer.start()
        theirs.close()
        try:
            assert ours.poll(60) and ours.recv() is True, f"kill {k}: the writer did not save"
            time.sleep(rng.uniform(0.0, 0.01))
        finally:
            writer.kill()
            writer.join()
            ours.close()
        assert writer.exitcode == -signal.SIGKILL
        state = A.load_sidecar(audio)
        assert state.error is None, f"kill {k}: {state.error}"
        assert tuple(state.boxes) in states, f"kill {k}: the sidecar holds a mix of saves"
        orig = side.with_name(side.name + A.ORIGINAL_SUFFIX)
        assert orig.read_bytes() == TABLE.encode("utf-8"), f"kill {k}: the original changed"
    A.save_sidecar(audio, saves[0])
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([side.name, side.name + A.ORIGINAL_SUFFIX]), left
