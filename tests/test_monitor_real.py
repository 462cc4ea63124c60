"""bench/monitor_real.py's scoring of a monitor's alerts against known events (issue 16):
alerted once, duplicated, missed, on time, and the alerts on the normal parts."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
mr = pytest.importorskip("monitor_real")


def _alert(i: int, start: float, end: float) -> dict:
    return {"event": i, "start": start, "end": end, "f_low": 100.0, "f_high": 200.0,
            "peak": 1.5}


def test_score_alerts_known_answer() -> None:
    truth = [mr.TrueEvent(10.0, 11.0, 0, 1, "a", 6.0), mr.TrueEvent(30.0, 32.0, 0, 1, "b", 0.0),
             mr.TrueEvent(50.0, 50.5, 0, 1, "c", 6.0), mr.TrueEvent(70.0, 71.0, 0, 1, "d", 0.0)]
    opens = [_alert(1, 10.1, 10.3), _alert(2, 30.2, 30.6), _alert(3, 31.0, 31.9),
             _alert(4, 69.2, 69.9), _alert(5, 90.0, 90.4)]
    # final records move the ends; alert 2 has none (its open record stands)
    closes = [_alert(1, 10.1, 11.2), _alert(3, 31.0, 32.1), _alert(4, 69.2, 70.9),
              _alert(5, 90.0, 90.5)]
    s = mr.score_alerts(truth, opens, closes, seconds=100.0, per_hour=36.0)
    assert [r["alerts"] for r in s["rows"]] == [1, 2, 0, 1]
    assert (s["once"], s["duplicated"], s["missed"]) == (2, 1, 1)
    a, b, c, d = s["rows"]
    assert a["start_err"] == pytest.approx(0.1) and a["end_err"] == pytest.approx(0.2)
    assert b["start_err"] == pytest.approx(0.2) and b["end_err"] == pytest.approx(0.1)
    assert math.isnan(c["start_err"])
    assert d["start_err"] == pytest.approx(-0.8)  # once, but early: not on time
    assert s["on_time"] == 1
    assert [x["event"] for x in s["extra"]] == [5]
    # 100 s less the events widened by 0.5 s each side: 2 + 3 + 1.5 + 2
    assert s["normal_s"] == pytest.approx(91.5)
    assert s["allowed"] == pytest.approx(36.0 * 91.5 / 3600)
    assert any("missed 1" in line for line in mr.report(s))


def test_disjoint_training_files_hold_out_clips_sharing_no_audio(tmp_path) -> None:
    from specview.checks import split_calibration

    # 30 clips of 5 s: clip k at 4k s (each overlaps its neighbours by 1 s), and clip 29
    # copies clip 3's span
    spans = {f"normal_{k:04d}.wav": (4.0 * k, 4.0 * k + 5.0) for k in range(29)}
    spans["normal_0029.wav"] = spans["normal_0003.wav"]
    rows = "".join(f"{n},m,stream[{a:.4f}s:{b:.4f}s] speed 1.0000 gain +0.000 dB\n"
                   for n, (a, b) in spans.items())
    (tmp_path / "meta.csv").write_text("file,background_class,source_background\n" + rows)
    files = mr.disjoint_training_files(tmp_path)
    fit, cal = split_calibration(files, 0.15)
    assert len(cal) == max(round(0.15 * len(files)), 2) >= 2

    def meet(a, b) -> bool:
        (a0, a1), (b0, b1) = spans[a.name], spans[b.name]
        return min(a1, b1) > max(a0, b0)

    assert not any(meet(c, f) for c in cal for f in fit)
    assert not any(meet(c, d) for c in cal for d in cal if c != d)
    # only the neighbours of the held-out clips (and copies of them) are left out
    left_out = set(spans) - {p.name for p in files}
    assert left_out == {n for n in spans if any(meet(tmp_path / n, c) for c in cal)} - \
        {c.name for c in cal}
