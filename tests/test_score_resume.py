"""``specview score --resume`` (issue 14): a stopped batch run goes on where it stopped.

Known answers are the uninterrupted run's outputs: two 130-s recordings (3 scoring windows of
60 s each; the second with a 3 kHz burst at 70 s) around a 4-s clip, scored as long recordings
(``long_seconds=60``) with a z-score model of the tiny encoder. A run stopped after k windows
and resumed gives the same ``scores.csv`` values, events and Raven tables, maps and stores, and
scores only the windows left (counted at the detector: one call a window, one for the clip);
a recording completed before the stop is not scored again; a stopped run leaves a previous
``--out`` byte-identical; without ``--resume`` the work left is discarded; a recording
changed since (its modification time) is scored afresh; ``--resume`` with ``--workers`` is
refused; the first Ctrl+C of ``specview score`` stops it with exit status 130 and its work
kept, and ``--resume`` then completes it.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from machine_sounds import SR, machine_tone

from specview import longresume
from specview.longstore import LongStore
from specview.scoring import WORK_DONE, WORK_STORE, score_files, work_folder

WINDOWS = 3  # windows of each 130-s recording
ARRAYS = ("map", "frame_scores", "region_max", "overview/power_db", "overview/score_max")


@pytest.fixture(scope="module")
def data(tmp_path_factory, tiny, one_thread):
    from specview import pipeline

    d = tmp_path_factory.mktemp("resume")
    (d / "train").mkdir()
    for i in range(6):
        sf.write(d / "train" / f"n{i}.wav", machine_tone(3.0, seed=i), SR)
    model_path = d / "m.safetensors"
    pipeline.fit(d / "train", method="zscore", encoder="tiny").save(model_path)
    a, b, c = d / "a.wav", d / "b.wav", d / "c.wav"
    sf.write(a, machine_tone(130.0, seed=21), SR, subtype="FLOAT")
    x = machine_tone(130.0, seed=22)
    t = np.arange(int(0.6 * SR)) / SR
    x[70 * SR:70 * SR + t.size] += (0.2 * np.sin(2 * np.pi * 3000 * t)
                                    * np.hanning(t.size)).astype(np.float32)
    sf.write(b, x, SR, subtype="FLOAT")
    sf.write(c, machine_tone(4.0, seed=23), SR)
    return {"model": pipeline.load_model(model_path), "model_path": model_path,
            "inputs": [a, c, b], "dir": d}


class Counter:
    """Counts the detector's calls (windows scored) of a model."""

    def __init__(self, model, monkeypatch) -> None:
        self.n = 0
        det = model.detector
        real = det.score

        def score(*args, **kw):
            self.n += 1
            return real(*args, **kw)

        monkeypatch.setattr(det, "score", score)

    def stop_after(self, k: int):
        return lambda: self.n >= k


def _run(data, out, inputs=None, **kw):
    return score_files(data["model"], inputs or data["inputs"], out, long_seconds=60.0, **kw)


@pytest.fixture(scope="module")
def straight(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "out"
    _run(data, out)
    return out


def _csv(path: Path, drop=("score_seconds",)) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(f)]


def _same_outputs(out: Path, ref: Path, drop=("score_seconds",)) -> None:
    """The same outputs as the uninterrupted run's, and no work folder left."""
    assert _csv(out / "scores.csv", drop) == _csv(ref / "scores.csv", drop)
    names = sorted(p.relative_to(ref).as_posix() for p in ref.rglob("*")
                   if p.is_file() and ".zarr" not in p.as_posix())
    assert names == sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                           if p.is_file() and ".zarr" not in p.as_posix())
    for n in names:
        if n.endswith((".events.csv", ".selections.txt")):
            assert (out / n).read_bytes() == (ref / n).read_bytes(), n
        elif n.endswith(".npz"):
            x, y = np.load(out / n), np.load(ref / n)
            assert x.files == y.files
            for k in x.files:
                np.testing.assert_array_equal(x[k], y[k])
    stores = sorted(p.name for p in (ref / "long").iterdir() if p.suffix == ".zarr")
    assert stores == ["a.zarr", "b.zarr"]
    assert stores == sorted(p.name for p in (out / "long").iterdir() if p.suffix == ".zarr")
    for name in stores:
        s, r = LongStore(out / "long" / name), LongStore(ref / "long" / name)
        assert s.complete and r.complete
        for arr in ARRAYS:
            x, y = np.asarray(s.root[arr][...]), np.asarray(r.root[arr][...])
            assert np.isfinite(x).all(), arr
            np.testing.assert_array_equal(x, y, err_msg=f"{name} {arr}")
        assert [e.box for e in s.events()] == [e.box for e in r.events()]
        for k in ("clip_score", "peak_time", "peak_freq", "threshold", "n_time"):
            assert s.attrs[k] == r.attrs[k], k
        assert not (out / "long" / name / longresume.NAME).exists()
    assert not [p for p in (out / "long").iterdir() if p.name.endswith(".partial")]


def _tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
            if p.is_file() and ".partial" not in p.as_posix()}


def test_the_reference_run(data, straight):
    rows = _csv(straight / "scores.csv")
    assert [Path(r["file"]).name for r in rows] == ["a.wav", "c.wav", "b.wav"]
    assert [r["map"] for r in rows] == ["long/a.zarr", "maps/c.npz", "long/b.zarr"]
    assert int(rows[2]["events"]) >= 1  # the burst of b
    hit = [e for e in LongStore(straight / "long" / "b.zarr").events()
           if e.box.t0 <= 70.6 and e.box.t1 >= 70.0]
    assert hit and hit[0].box.f0 <= 3000 <= hit[0].box.f1


def test_stopped_then_resumed_equals_an_uninterrupted_run(data, straight, tmp_path,
                                                          monkeypatch):
    count = Counter(data["model"], monkeypatch)
    _run(data, tmp_path / "ref")
    assert count.n == 2 * WINDOWS + 1  # a, c (one window), b
    count.n = 0
    out = tmp_path / "out"
    with pytest.raises(InterruptedError):
        _run(data, out, should_stop=count.stop_after(1))  # after a's first window
    work = work_folder(out, "a")
    assert work == out / "long" / ".a.zarr.partial"
    assert (work / WORK_STORE / longresume.NAME).exists() and not (work / WORK_DONE).exists()
    assert not (out / "scores.csv").exists() and not (out / "long" / "a.zarr").exists()
    count.n = 0
    rows = _run(data, out, resume=True)
    assert count.n == (WINDOWS - 1) + 1 + WINDOWS  # a's windows left, c again, all of b
    assert len(rows) == 3
    _same_outputs(out, straight)


def test_a_stopped_run_leaves_the_previous_results_byte_identical(data, straight, tmp_path,
                                                                  monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(straight, out)
    before = _tree(out)
    count = Counter(data["model"], monkeypatch)
    with pytest.raises(InterruptedError):
        _run(data, out, should_stop=count.stop_after(WINDOWS + 2))  # in b
    assert _tree(out) == before
    assert (work_folder(out, "a") / WORK_DONE).exists()
    assert (work_folder(out, "b") / WORK_STORE / longresume.NAME).exists()


def test_a_recording_completed_before_the_stop_is_not_scored_again(data, straight, tmp_path,
                                                                   monkeypatch):
    count = Counter(data["model"], monkeypatch)
    out = tmp_path / "out"
    with pytest.raises(InterruptedError):
        _run(data, out, should_stop=count.stop_after(WINDOWS + 2))  # a, c, b's first window
    assert count.n == WINDOWS + 2
    a, b = work_folder(out, "a"), work_folder(out, "b")
    assert (a / WORK_DONE).exists() and LongStore(a / WORK_STORE).complete
    assert (b / WORK_STORE / longresume.NAME).exists() and not (b / WORK_DONE).exists()
    count.n = 0
    _run(data, out, resume=True)
    assert count.n == 1 + (WINDOWS - 1)  # c again and b's windows left; nothing of a
    _same_outputs(out, straight)
    # stopped twice (in a, then in b) and resumed each time: the same
    out2 = tmp_path / "out2"
    count.n = 0
    with pytest.raises(InterruptedError):
        _run(data, out2, should_stop=count.stop_after(2))
    count.n = 0
    with pytest.raises(InterruptedError):
        _run(data, out2, resume=True, should_stop=count.stop_after(1 + 1 + 1))
    count.n = 0
    _run(data, out2, resume=True)
    assert count.n == 1 + (WINDOWS - 1)
    _same_outputs(out2, straight)


def test_without_resume_the_work_left_is_discarded(data, straight, tmp_path, monkeypatch):
    count = Counter(data["model"], monkeypatch)
    out = tmp_path / "out"
    with pytest.raises(InterruptedError):
        _run(data, out, should_stop=count.stop_after(WINDOWS + 2))
    # a stale, foreign file in the work folder goes with it
    (work_folder(out, "b") / "stale.txt").write_text("x")
    count.n = 0
    _run(data, out)
    assert count.n == 2 * WINDOWS + 1  # everything scored again
    _same_outputs(out, straight)


def test_a_changed_recording_is_not_resumed(data, straight, tmp_path, monkeypatch):
    src = tmp_path / "in"
    src.mkdir()
    inputs = [Path(shutil.copy2(p, src / p.name)) for p in data["inputs"]]
    count = Counter(data["model"], monkeypatch)
    out = tmp_path / "out"
    with pytest.raises(InterruptedError):
        _run(data, out, inputs, should_stop=count.stop_after(WINDOWS + 2))
    for p in (inputs[0], inputs[2]):  # a (completed) and b (stopped) touched since
        st = p.stat()
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
    count.n = 0
    _run(data, out, inputs, resume=True)
    assert count.n == 2 * WINDOWS + 1
    _same_outputs(out, straight, drop=("score_seconds", "file"))
    # different bytes in b: its stopped store is not resumed either
    count.n = 0
    with pytest.raises(InterruptedError):
        _run(data, out, inputs, should_stop=count.stop_after(WINDOWS + 2))
    x, sr = sf.read(inputs[2], dtype="float32")
    sf.write(inputs[2], x * np.float32(0.5), sr, subtype="FLOAT")
    count.n = 0
    _run(data, out, inputs, resume=True)
    assert count.n == 1 + WINDOWS  # a's completed store reused; c; all of the changed b
    assert LongStore(out / "long" / "b.zarr").attrs["recording_mtime"] == inputs[2].stat().st_mtime


def test_cli_refuses_resume_on_a_cluster(data, tmp_path, capsys):
    from specview import cli

    out = tmp_path / "out"
    code = cli.main(["score", str(data["model_path"]), str(data["inputs"][1]), "--out", str(out),
                     "--resume", "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--resume" in err and "single-process" in err and "--workers" in err
    assert not out.exists()


def test_cli_ctrl_c_stops_at_a_window_and_resume_completes(data, straight, tmp_path,
                                                           monkeypatch, capsys):
    from specview import cli, longscore, scoring

    monkeypatch.setattr(longscore, "LONG_SECONDS", 60.0)
    real = scoring.score_long
    sent = []

    def interrupted(*args, progress=None, **kw):
        def step(a, b):
            if not sent:  # Ctrl+C once, during a's first window
                sent.append(1)
                os.kill(os.getpid(), signal.SIGINT)
            if progress is not None:
                progress(a, b)

        return real(*args, progress=step, **kw)

    out = tmp_path / "out"
    argv = ["score", str(data["model_path"]), *map(str, data["inputs"]), "--out", str(out)]
    before = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(scoring, "score_long", interrupted)
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert "stopping" in err and "--resume" in err and "Traceback" not in err
    assert signal.getsignal(signal.SIGINT) is before
    assert (work_folder(out, "a") / WORK_STORE / longresume.NAME).exists()
    assert not (out / "scores.csv").exists()
    monkeypatch.setattr(scoring, "score_long", real)
    assert cli.main([*argv, "--resume"]) == 0
    assert signal.getsignal(signal.SIGINT) is before
    _same_outputs(out, straight)


def test_cli_a_second_ctrl_c_interrupts_at_once(data, tmp_path, monkeypatch, capsys):
    from specview import cli, scoring

    def twice(*args, should_stop=None, **kw):
        os.kill(os.getpid(), signal.SIGINT)
        assert should_stop()  # the first: asked to stop
        os.kill(os.getpid(), signal.SIGINT)  # the second: KeyboardInterrupt here
        raise AssertionError("not interrupted")

    before = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(scoring, "score_files", twice)
    code = cli.main(["score", str(data["model_path"]), str(data["inputs"][1]), "--out",
                     str(tmp_path / "out")])
    assert code == 130 and "interrupted" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is before
