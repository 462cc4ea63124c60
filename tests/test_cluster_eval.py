"""Evaluating and comparing on a Dask cluster (issue 17): the same reports as one process.

Known answers are the single-process run's files on a small demo dataset (the tiny test
encoder, one torch thread in both runs): a ``LocalCluster`` of two worker processes writes
the same ``metrics.json`` and ``per_clip.csv`` (timings aside), maps equal to the bit and the
same figures' files; ``compare`` fits every pair on the workers and writes the same models,
tables and pair reports. A damaged test clip fails the run with its file named (library and
CLI, exit status non-zero), the other clips still scored, and the earlier report stays
byte-identical.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("distributed")

PRELOAD = str(Path(__file__).with_name("cluster_preload.py"))
#: What differs between two runs of the same work: how long it took, and when.
TIMINGS = {"score_seconds", "score_seconds_per_clip", "fit_seconds", "calibration_seconds",
           "fitted_at", "features_seconds"}


@pytest.fixture(scope="module")
def data(tmp_path_factory, tiny, one_thread):
    """A demo fan dataset (sidecars and isolated sources), a PatchCore model of the tiny
    encoder loaded from its file, and a copy of the dataset with a damaged test clip."""
    from specview import pipeline
    from specview.demo import make_demo_dataset
    from specview.detectors import DETECTORS
    from specview.encoders.tiny import TinyEncoder

    d = tmp_path_factory.mktemp("clustereval")
    root = make_demo_dataset(d / "fan", machine="fan", seed=5, n_train=10, n_test_normal=4,
                             n_test_anomalous=6, duration=2.0, sr=16000)
    det = DETECTORS["patchcore"]
    model = pipeline.fit(root, model=pipeline.Model(
        TinyEncoder(), det(dataclasses.replace(det.Params(), coreset_ratio=0.25))))
    model.save(d / "m.safetensors")
    bad = d / "fan-bad"
    shutil.copytree(root, bad)
    x, sr = sf.read(next((bad / "test").glob("*normal*.wav")), dtype="float32")
    x[len(x) // 2] = np.nan  # passes the header checks, fails once read
    sf.write(bad / "test" / "normal_zz_damaged.wav", x, sr, subtype="FLOAT")
    return {"root": Path(root), "bad": bad, "model_path": d / "m.safetensors",
            "model": pipeline.load_model(d / "m.safetensors")}


@pytest.fixture(scope="module")
def client(tiny):
    from specview.cluster import connect

    with connect(workers=2, preload=[PRELOAD]) as c:
        c.wait_for_workers(2, timeout=120)
        yield c


def _without_timings(x):
    if isinstance(x, dict):
        return {k: _without_timings(v) for k, v in x.items() if k not in TIMINGS}
    if isinstance(x, list):
        return [_without_timings(v) for v in x]
    return x


def _rows(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as f:
        return [{k: v for k, v in r.items() if k not in TIMINGS} for r in csv.DictReader(f)]


def _same_report(a: Path, b: Path, *, figures: bool = True) -> None:
    """The report folders ``a`` and ``b`` hold the same files and numbers (timings aside)."""
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    ja, jb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert _without_timings(ja) == _without_timings(jb)
    assert list(ja) == list(jb)  # the same keys in the same order
    assert _rows(a / "per_clip.csv") == _rows(b / "per_clip.csv")
    maps = [f for f in files if f.suffix == ".npz"]
    assert len(maps) == ja["n_clips"]["test"]
    for f in maps:  # to the bit: the same code on the same numbers, one thread each
        x, y = np.load(a / f), np.load(b / f)
        assert x.files == y.files
        for k in x.files:
            np.testing.assert_array_equal(x[k], y[k])
    if figures:
        for f in ("roc.png", "pro.png", "clips.png"):
            assert (a / f).read_bytes() == (b / f).read_bytes()


def test_evaluate_on_a_local_cluster_writes_the_single_process_report(data, client, tmp_path,
                                                                      one_thread):
    from specview.evaluation import evaluate

    rep1, ev1 = evaluate(data["model"], data["root"], tmp_path / "one")
    seen = []
    rep2, ev2 = evaluate(data["model"], data["root"], tmp_path / "cluster", client=client,
                         on_shard=seen.append)
    assert sorted(s["shard"] for s in seen) == list(range(10))
    assert len({s["pid"] for s in seen}) == 2  # both workers took clips
    assert [e.path for e in ev2] == [e.path for e in ev1]
    assert rep1["faithfulness"]["n_clips"] > 0 and rep1["spectrogram_energy"] is not None
    assert _without_timings(rep2) == _without_timings(rep1)
    _same_report(tmp_path / "one", tmp_path / "cluster")


def test_evaluate_with_a_flag_rate_on_the_cluster(data, client, tmp_path, one_thread):
    """The workers apply ``--flag-rate`` to the model's calibration as the single process does
    (the threshold moves the flagged regions and the faithfulness test's threshold cells)."""
    from specview.evaluation import evaluate

    kw = {"flag_rate": 0.3, "figures": False}
    rep1, _ = evaluate(data["model"], data["root"], tmp_path / "one", **kw)
    rep2, _ = evaluate(data["model"], data["root"], tmp_path / "cluster", client=client, **kw)
    ref, _ = evaluate(data["model"], data["root"], None, figures=False)
    assert rep1["boxes"] != ref["boxes"] or rep1["faithfulness"] != ref["faithfulness"]
    assert _without_timings(rep2) == _without_timings(rep1)
    _same_report(tmp_path / "one", tmp_path / "cluster", figures=False)


def test_compare_on_a_local_cluster_writes_the_single_process_comparison(data, client,
                                                                          tmp_path, one_thread):
    from specview.comparison import compare
    from specview.modelfile import load_tensors

    kw = {"methods": ["patchcore", "zscore"], "encoders": ["tiny"],
          "overrides": {"patchcore.coreset_ratio": "0.25"}, "log": lambda _line: None}
    rows1 = compare(data["root"], tmp_path / "one", **kw)
    plugins = client.run_on_scheduler(_plugins)
    seen = []
    rows2 = compare(data["root"], tmp_path / "cluster", client=client, on_shard=seen.append,
                    **kw)
    assert len(seen) == 2 * 10  # every test clip of both pairs, once
    assert _without_timings(rows2) == _without_timings(rows1)
    assert _rows(tmp_path / "one" / "comparison.csv") == _rows(
        tmp_path / "cluster" / "comparison.csv")
    for name in ("comparison.md", "compare.png"):
        assert name in {p.name for p in (tmp_path / "cluster").iterdir()}
    for pair in ("patchcore-tiny", "zscore-tiny"):
        a, b = tmp_path / "one" / pair, tmp_path / "cluster" / pair
        _same_report(a, b)
        (ta, ma), (tb, mb) = (load_tensors(d / "model.safetensors") for d in (a, b))
        assert sorted(ta) == sorted(tb)
        for k in ta:
            assert ta[k].dtype == tb[k].dtype and bool((ta[k] == tb[k]).all())
        assert _without_timings(ma) == _without_timings(mb)
    # the workers hold no pair's model afterwards
    assert client.run_on_scheduler(_plugins) == plugins


def _plugins(dask_scheduler=None) -> list[str]:
    return list(getattr(dask_scheduler, "worker_plugins", {}))


def _tree(d: Path) -> dict:
    return {p: p.read_bytes() for p in d.rglob("*") if p.is_file()}


def test_a_damaged_clip_fails_evaluate_and_compare_and_changes_nothing(data, client, tmp_path,
                                                                       capsys, one_thread):
    from specview import cli
    from specview.cluster import ShardErrors
    from specview.evaluation import evaluate

    out = tmp_path / "report"
    evaluate(data["model"], data["root"], out, figures=False)  # an earlier report
    before = _tree(out)
    damaged = str(data["bad"] / "test" / "normal_zz_damaged.wav")
    seen = []
    with pytest.raises(ShardErrors) as err:
        evaluate(data["model"], data["bad"], out, client=client, on_shard=seen.append)
    assert [f for f, _ in err.value.failed] == [damaged]
    assert "NaN" in str(err.value)
    assert len(seen) == 11  # every other clip was scored
    assert _tree(out) == before
    addr = client.scheduler.address
    code = cli.main(["evaluate", str(data["model_path"]), str(data["bad"]), "--out", str(out),
                     "--cluster", addr, "--no-figures"])
    assert code != 0 and "normal_zz_damaged.wav" in capsys.readouterr().err
    assert _tree(out) == before
    comp = tmp_path / "comparison"
    comp.mkdir()
    (comp / "comparison.csv").write_text("earlier\n")
    code = cli.main(["compare", str(data["bad"]), "--methods", "zscore", "--encoders", "tiny",
                     "--out", str(comp), "--cluster", addr, "--no-figures", "--no-faithfulness"])
    err = capsys.readouterr().err
    assert code != 0 and "normal_zz_damaged.wav" in err
    assert _tree(comp) == {comp / "comparison.csv": b"earlier\n"}


def test_evaluate_on_the_cluster_from_the_command_line(data, client, tmp_path, capsys,
                                                       one_thread):
    from specview import cli

    code = cli.main(["evaluate", str(data["model_path"]), str(data["root"]), "--out",
                     str(tmp_path / "cli"), "--cluster", client.scheduler.address])
    assert code == 0
    assert "evaluated on the cluster" in capsys.readouterr().out
    code = cli.main(["evaluate", str(data["model_path"]), str(data["root"]), "--out",
                     str(tmp_path / "one")])
    assert code == 0
    _same_report(tmp_path / "one", tmp_path / "cli")


def test_without_dask_evaluate_and_compare_say_how_to_install_it(data, tmp_path, monkeypatch,
                                                                 capsys):
    import sys

    from specview import cli

    monkeypatch.setitem(sys.modules, "distributed", None)
    for argv in (["evaluate", str(data["model_path"]), str(data["root"])],
                 ["compare", str(data["root"]), "--methods", "zscore", "--encoders", "tiny"]):
        code = cli.main([*argv, "--out", str(tmp_path / "o"), "--workers", "2"])
        err = capsys.readouterr().err
        assert code != 0 and "pip install specview[cluster]" in err
        assert not (tmp_path / "o").exists()
