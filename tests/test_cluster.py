"""Scoring on a Dask cluster (issue 17): the same files and numbers as one process.

Known answers are the single-process run's outputs (``scoring.score_files`` without a client,
long recordings through ``longscore.score_long``): a ``LocalCluster`` of two single-threaded
worker processes gives the same ``scores.csv`` rows, maps and long store (map within float16
rounding, the same events); a real ``dask scheduler`` with two ``dask worker`` processes on
loopback, one of them killed after its first shard arrives, still delivers every shard exactly
once with the same outputs; a damaged file among good ones fails the run with its name and
leaves the earlier results byte-identical.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from machine_sounds import SR, machine_tone

pytest.importorskip("distributed")

PRELOAD = str(Path(__file__).with_name("cluster_preload.py"))


@pytest.fixture(scope="module")
def data(tmp_path_factory, tiny):
    """A z-score model of the tiny encoder (its file), 12 test clips, a damaged clip and a
    3-minute recording with a burst."""
    from specview import pipeline

    d = tmp_path_factory.mktemp("cluster")
    (d / "train").mkdir()
    (d / "test").mkdir()
    for i in range(6):
        sf.write(d / "train" / f"n{i}.wav", machine_tone(3.0, seed=i), SR)
    model_path = d / "m.safetensors"
    pipeline.fit(d / "train", method="zscore", encoder="tiny").save(model_path)
    clips = []
    for i in range(12):
        x = machine_tone(4.0, seed=40 + i)
        if i % 4 == 1:
            x[SR:SR + 4000] += 0.3 * np.sin(np.arange(4000) * 0.9).astype(np.float32)
        clips.append(d / "test" / f"c{i:02d}.wav")
        sf.write(clips[-1], x, SR)
    bad = d / "bad.wav"  # passes the header checks, fails once read
    x = machine_tone(4.0, seed=3)
    x[SR * 2] = np.nan
    sf.write(bad, x, SR, subtype="FLOAT")
    x = machine_tone(185.3, seed=99)
    t = np.arange(int(0.6 * SR)) / SR
    x[int(121.0 * SR):int(121.0 * SR) + t.size] += (
        0.2 * np.sin(2 * np.pi * 3000 * t) * np.hanning(t.size)).astype(np.float32)
    long = d / "long.wav"
    sf.write(long, x, SR, subtype="FLOAT")
    return {"model": pipeline.load_model(model_path), "model_path": model_path,
            "clips": clips, "bad": bad, "long": long}


@pytest.fixture(scope="module")
def single(data, tmp_path_factory):
    """The single-process outputs: clips, and the clips with the long recording."""
    from specview.scoring import score_files

    out = tmp_path_factory.mktemp("single")
    rows = score_files(data["model"], data["clips"], out / "clips")
    long_rows = score_files(data["model"], [data["clips"][0], data["long"]], out / "long",
                            long_seconds=60.0)
    return {"clips": (rows, out / "clips"), "long": (long_rows, out / "long")}


@pytest.fixture(autouse=True)
def one_clip_per_shard(monkeypatch):
    """Shards of one clip each (the shard counts below are clips), unless a test groups them."""
    from specview import cluster

    monkeypatch.setattr(cluster, "CLIP_SHARD_SECONDS", 0.0)


@pytest.fixture(scope="module")
def local_client(tiny):
    from specview.cluster import connect

    with connect(workers=2, preload=[PRELOAD]) as client:
        client.wait_for_workers(2, timeout=120)
        yield client


def _same_rows(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert {k: v for k, v in x.items() if k != "score_seconds"} == {
            k: v for k, v in y.items() if k != "score_seconds"}


def _same_maps(a: Path, b: Path) -> None:
    names = sorted(p.name for p in (a / "maps").glob("*.npz"))
    assert names and names == sorted(p.name for p in (b / "maps").glob("*.npz"))
    for n in names:
        x, y = np.load(a / "maps" / n), np.load(b / "maps" / n)
        assert x.files == y.files
        for k in x.files:
            np.testing.assert_allclose(x[k], y[k], rtol=1e-6, atol=1e-7)
    assert (a / "scores.csv").read_text().count("\n") == (b / "scores.csv").read_text().count(
        "\n")


def test_local_cluster_equals_single_process(data, single, local_client, tmp_path):
    from specview.scoring import score_files

    seen = []
    rows = score_files(data["model"], data["clips"], tmp_path / "out", client=local_client,
                       on_shard=seen.append)
    ref_rows, ref = single["clips"]
    _same_rows(rows, ref_rows)
    _same_maps(ref, tmp_path / "out")
    assert sorted(s["shard"] for s in seen) == list(range(12))
    assert len({s["pid"] for s in seen}) == 2 and os.getpid() not in {s["pid"] for s in seen}


def test_a_long_recording_split_across_workers_equals_score_long(data, single, local_client,
                                                                  tmp_path, monkeypatch):
    from specview import cluster
    from specview.longstore import LongStore
    from specview.scoring import score_files

    monkeypatch.setattr(cluster, "WINDOWS_PER_SHARD", 1)  # 4 windows: 4 shards
    seen = []
    rows = score_files(data["model"], [data["clips"][0], data["long"]], tmp_path / "out",
                       long_seconds=60.0, client=local_client, on_shard=seen.append)
    ref_rows, ref = single["long"]
    assert len(seen) == 5 and len({s["pid"] for s in seen}) == 2
    _same_rows(rows, ref_rows)
    a, b = LongStore(ref / "long" / "long.zarr"), LongStore(tmp_path / "out" / "long" /
                                                             "long.zarr")
    assert b.complete and a.n_time == b.n_time
    np.testing.assert_allclose(b.map()[0], a.map()[0], rtol=2e-3, atol=2e-3)  # float16
    np.testing.assert_allclose(b.frame_scores()[0], a.frame_scores()[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(b.overview()[0], a.overview()[0], rtol=1e-4, atol=1e-3)
    assert a.events() and [e.box for e in b.events()] == [e.box for e in a.events()]
    assert any(e.box.t0 <= 121.6 and e.box.t1 >= 121.0 for e in b.events())
    for name in ("long.events.csv", "long.selections.txt"):  # the same to float rounding
        got, want = ((d / "long" / name).read_text().splitlines() for d in (tmp_path / "out",
                                                                             ref))
        assert len(got) == len(want) > 1 and got[0] == want[0]
        for g, w in zip(got[1:], want[1:], strict=True):
            g, w = g.replace("\t", ",").split(","), w.replace("\t", ",").split(",")
            assert len(g) == len(w)
            for u, v in zip(g, w, strict=True):
                try:
                    assert float(u) == pytest.approx(float(v), rel=1e-4, abs=1e-4)
                except ValueError:
                    assert u == v


def test_a_bad_file_fails_the_run_and_changes_nothing(data, single, local_client, tmp_path,
                                                      capsys):
    import shutil

    from specview import cli
    from specview.cluster import ShardErrors
    from specview.scoring import score_files

    out = tmp_path / "out"
    shutil.copytree(single["clips"][1], out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    inputs = [*data["clips"][:5], data["bad"], *data["clips"][5:]]
    seen = []
    with pytest.raises(ShardErrors) as err:
        score_files(data["model"], inputs, out, client=local_client, on_shard=seen.append)
    assert [f for f, _ in err.value.failed] == [str(data["bad"])]
    assert "bad.wav" in str(err.value) and "NaN" in str(err.value)
    assert len(seen) == 13  # the others finished
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    # the command line, on the running scheduler: non-zero, the file named
    addr = local_client.scheduler.address
    code = cli.main(["score", str(data["model_path"]), *map(str, inputs), "--out", str(out),
                     "--cluster", addr])
    assert code != 0
    assert "bad.wav" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_clips_are_grouped_into_shards_of_consecutive_clips():
    from specview.cluster import clip_groups

    assert clip_groups([10.0] * 7, 30.0) == [[0, 1, 2], [3, 4, 5], [6]]
    assert clip_groups([10.0, 50.0, 10.0, 10.0], 30.0) == [[0], [1], [2, 3]]  # 50 s: alone
    assert clip_groups([10.0] * 24, 60.0, n_workers=2) == [list(range(i, i + 6))
                                                           for i in range(0, 24, 6)]
    assert clip_groups([10.0] * 8, 60.0, n_workers=2) == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert clip_groups([4.0] * 3, 0.0) == [[0], [1], [2]]


def test_grouped_clips_equal_single_process_and_a_bad_one_fails_alone(data, single,
                                                                      local_client, tmp_path,
                                                                      monkeypatch):
    """Shards of three clips: the same outputs; a damaged clip in a shard is the only failure
    (the other clips of its shard are scored), and nothing is written."""
    from specview import cluster
    from specview.cluster import ShardErrors
    from specview.scoring import score_files

    monkeypatch.setattr(cluster, "CLIP_SHARD_SECONDS", 12.0)  # 4-s clips: 3 a shard
    seen = []
    rows = score_files(data["model"], data["clips"], tmp_path / "out", client=local_client,
                       on_shard=seen.append)
    assert len(seen) == 4 and [len(s["files"]) for s in sorted(seen, key=lambda s: s[
        "shard"])] == [3, 3, 3, 3]
    ref_rows, ref = single["clips"]
    _same_rows(rows, ref_rows)
    _same_maps(ref, tmp_path / "out")
    inputs = [*data["clips"][:4], data["bad"], *data["clips"][4:]]  # the 2nd shard's 2nd clip
    seen.clear()
    with pytest.raises(ShardErrors) as err:
        score_files(data["model"], inputs, tmp_path / "bad", client=local_client,
                    on_shard=seen.append)
    assert [f for f, _ in err.value.failed] == [str(data["bad"])]
    assert sum(len(s["files"]) for s in seen) == 13 and not (tmp_path / "bad").exists()


def test_without_dask_the_options_say_how_to_install_it(data, tmp_path, monkeypatch, capsys):
    from specview import cli

    monkeypatch.setitem(sys.modules, "distributed", None)
    code = cli.main(["score", str(data["model_path"]), str(data["clips"][0]), "--out",
                     str(tmp_path / "o"), "--workers", "2"])
    err = capsys.readouterr().err
    assert code != 0 and "pip install specview[cluster]" in err and not (tmp_path / "o").exists()


# -- a real scheduler and two workers, one killed mid-run ------------------------------------

def _dask(*args: str, log: Path) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("dask")
    with log.open("w") as f:  # the child keeps its own descriptor
        return subprocess.Popen([str(exe), *args], stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)


def test_a_worker_killed_mid_run_loses_no_shard(data, single, tmp_path):
    from distributed import Client

    from specview.scoring import score_files

    sched_file = tmp_path / "scheduler.json"
    procs = [_dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address",
                   ":0", "--scheduler-file", str(sched_file), log=tmp_path / "scheduler.log")]
    try:
        for _ in range(300):
            if sched_file.exists() and sched_file.stat().st_size:
                break
            time.sleep(0.1)
        workers = [_dask("worker", "--scheduler-file", str(sched_file), "--nthreads", "1",
                         "--no-nanny", "--host", "127.0.0.1", "--preload", PRELOAD,
                         "--name", f"w{i}", log=tmp_path / f"worker{i}.log")
                   for i in range(2)]
        procs += workers
        with Client(scheduler_file=str(sched_file)) as client:
            client.wait_for_workers(2, timeout=120)
            pids = {p.pid for p in workers}
            seen, killed = [], []

            def on_shard(info: dict) -> None:
                seen.append(info)
                if not killed and info["pid"] in pids:
                    busy = client.processing().get(info["worker"], ())
                    os.kill(info["pid"], signal.SIGKILL)  # right after its first shard arrives
                    killed.append((info["pid"], len(seen), len(busy)))

            clips = data["clips"] * 2  # 24 shards: the killed worker had more queued
            rows = score_files(data["model"], clips, tmp_path / "out", client=client,
                               on_shard=on_shard)
        assert killed
        pid, at, busy = killed[0]
        assert busy >= 1 and at < 24  # it was killed with a shard in hand
        assert sorted(s["shard"] for s in seen) == list(range(24))  # each exactly once
        assert len(list((tmp_path / "out" / "maps").glob("*.npz"))) == 24
        assert all(s["pid"] != pid for s in seen[at:])  # the rest came from the survivor
        ref_rows, ref = single["clips"]
        # the same clips twice: the second ones' maps are named -2
        _same_rows([{k: v for k, v in r.items() if k != "map"} for r in rows],
                   [{k: v for k, v in r.items() if k != "map"} for r in ref_rows * 2])
        for n in (p.name for p in (ref / "maps").glob("*.npz")):
            for got in (n, n.replace(".npz", "-2.npz")):
                x, y = np.load(ref / "maps" / n), np.load(tmp_path / "out" / "maps" / got)
                for k in x.files:
                    np.testing.assert_allclose(y[k], x[k], rtol=1e-6, atol=1e-7)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
