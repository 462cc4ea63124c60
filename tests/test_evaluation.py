"""Evaluation and comparison end to end on a small demo dataset with the tiny test encoder."""

import csv
import dataclasses
import json

import numpy as np
import pytest

from specview import pipeline
from specview.comparison import compare
from specview.datasets import Dataset, load_dataset
from specview.detectors import DETECTORS
from specview.encoders.tiny import TinyEncoder
from specview.evaluation import evaluate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from specview.demo import make_demo_dataset

    root = tmp_path_factory.mktemp("evald") / "fan"
    make_demo_dataset(root, machine="fan", seed=5, n_train=10, n_test_normal=4,
                      n_test_anomalous=6, duration=2.0, sr=16000)
    return root


def _pairwise_auroc(scores, labels) -> float:
    """P(an anomalous clip scores above a normal one), ties counting half: the ROC area by its
    definition, computed here without specview.metrics."""
    pos = [float(s) for s, y in zip(scores, labels, strict=True) if int(y) == 1]
    neg = [float(s) for s, y in zip(scores, labels, strict=True) if int(y) == 0]
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def _patchcore():
    det = DETECTORS["patchcore"]
    return det(dataclasses.replace(det.Params(), coreset_ratio=0.25))


@pytest.fixture(scope="module")
def fitted(data, one_thread):
    model = pipeline.Model(TinyEncoder(), _patchcore())
    return pipeline.fit(data, model=model)


@pytest.fixture(scope="module")
def report(fitted, data, tmp_path_factory):
    out = tmp_path_factory.mktemp("evalout")
    rep, evals = evaluate(fitted, data, out)
    return rep, evals, out


def test_fit_holds_out_calibration_clips(fitted):
    assert fitted.info["n_train_clips"] == 8 and fitted.info["n_calibration_clips"] == 2
    cal = fitted.calibration
    assert cal.held_out and cal.n_clips == 2 and len(cal.clip_max) == 2
    assert cal.median < cal.threshold


def test_metrics_json_has_every_block_with_sane_values(report):
    rep, _, out = report
    saved = json.loads((out / "metrics.json").read_text())
    for block, keys in {"clip": ("auroc", "pauc", "ap", "f1_max"),
                        "spectrogram": ("gt", "auroc", "ap", "f1_max", "aupro", "aupimo"),
                        "temporal": ("auroc", "ap", "f1_max"),
                        "boxes": ("precision", "recall", "f1"),
                        "spectrogram_energy": ("auroc", "aupro", "mse"),
                        "faithfulness": ("map_drop", "random_drop", "map_auc")}.items():
        assert set(keys) <= set(saved[block]), block
    assert saved["spectrogram"]["gt"] == "boxes"
    assert saved["n_clips"] == {"test": 10, "normal": 4, "anomalous": 6, "unlabelled": 0,
                                "with_boxes": 6, "with_sources": 6}
    for block in ("clip", "spectrogram", "temporal", "spectrogram_energy"):
        for k, v in saved[block].items():
            if k not in ("gt", "n_clips", "mse", "aupimo"):
                assert 0.0 <= v <= 1.0, (block, k, v)
    # AUPIMO integrates down to a false-positive rate of 1e-5 on the normal clips: defined
    # when they hold 1e5 cells or more, and then the metric's own value on the same maps
    _, evals, _ = report
    normal_cells = sum(e.result.map.size for e in evals if e.clip.label == 0)
    if normal_cells < 10**5:
        assert saved["spectrogram"]["aupimo"] is None
    else:
        from specview import metrics as M

        use = [e for e in evals if e.box_mask is not None]
        want = M.aupimo([e.result.map for e in use], [e.box_mask for e in use],
                        normal=[e.clip.label == 0 for e in use])["aupimo"]
        assert saved["spectrogram"]["aupimo"] == pytest.approx(want)
    assert set(saved["by_level"]) == {"+6", "+0", "-6"}
    # clip level, a known answer: every injected anomaly outscores every normal clip here
    # (measured: lowest anomaly 4.6, highest normal 2.9), so the ROC area and AP are exactly 1
    labelled = [e for e in evals if e.clip.label is not None]
    scores = [e.result.clip_score for e in labelled]
    labels = [e.clip.label for e in labelled]
    assert _pairwise_auroc(scores, labels) == 1.0
    assert saved["clip"]["auroc"] == 1.0 and saved["clip"]["ap"] == 1.0


def test_maps_localise_the_injected_anomalies(report):
    rep, evals, out = report
    # the anomaly box holds the map's peak on most anomalous clips, and cells rank well
    assert rep["spectrogram"]["auroc"] > 0.8 and rep["spectrogram_energy"]["auroc"] > 0.8
    with open(out / "per_clip.csv") as f:
        rows = list(csv.DictReader(f))
    hits = [int(r["peak_in_truth"]) for r in rows if r["label"] == "1"]
    assert len(hits) == 6 and sum(hits) >= 4
    assert len(list((out / "maps").glob("*.npz"))) == 10


def test_deleting_the_hottest_cells_removes_more_score_than_random_cells(report):
    f = report[0]["faithfulness"]
    assert f["n_clips"] == 6
    assert f["map_auc"] > f["random_auc"] + 0.2
    assert f["map_drop"][-1] > 0.8  # half the cells, hottest first: most of the anomaly gone


def test_figures_are_written(report):
    out = report[2]
    for name in ("roc.png", "pro.png", "clips.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_nothing_depends_on_test_labels(fitted, data, report):
    """Scores, thresholds and flagged regions are the same when the labels are hidden."""
    ds = load_dataset(data)
    hidden = Dataset(ds.root, ds.train, [dataclasses.replace(c, label=None) for c in ds.test])
    _, blind = evaluate(fitted, hidden, None, faithfulness=False)
    for a, b in zip(report[1], blind, strict=True):
        assert a.result.clip_score == b.result.clip_score
        np.testing.assert_array_equal(a.result.map, b.result.map)
        assert a.flagged == b.flagged
    rep, _ = evaluate(fitted, hidden, None, faithfulness=False)
    assert rep["clip"]["auroc"] is None and rep["n_clips"]["unlabelled"] == 10


def test_model_file_keeps_the_calibration(fitted, tmp_path, monkeypatch):
    from specview import encoders

    monkeypatch.setitem(encoders.ENCODERS, "tiny", TinyEncoder)
    monkeypatch.setitem(pipeline.ENCODERS, "tiny", TinyEncoder)
    path = tmp_path / "m.safetensors"
    fitted.save(path)
    back = pipeline.load_model(path)
    assert back.calibration == fitted.calibration


def test_compare_fits_each_pair_once_and_writes_the_table(data, tmp_path, monkeypatch, one_thread):
    from specview import encoders

    monkeypatch.setitem(encoders.ENCODERS, "tiny", TinyEncoder)
    lines = []
    rows = compare(data, tmp_path, methods=["patchcore", "padim"], encoders=["tiny"],
                   overrides={"patchcore.coreset_ratio": "0.25"}, faithfulness=False,
                   log=lines.append)
    assert [(r["method"], r["encoder"]) for r in rows] == [("patchcore", "tiny"), ("padim", "tiny")]
    with open(tmp_path / "comparison.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 2
    assert float(table[1]["fit_seconds"]) > 0 and float(table[1]["score_seconds_per_clip"]) > 0
    md = (tmp_path / "comparison.md").read_text()
    assert "| patchcore | tiny |" in md.replace("| – | ", "| ")
    assert (tmp_path / "compare.png").stat().st_size > 10_000
    for row, pair in zip(table, ("patchcore-tiny", "padim-tiny"), strict=True):
        # the table's clip AUROC is that pair's, recomputed from its own per-clip scores, and
        # both detectors separate this easy set completely (measured: lowest anomaly 4.6 vs
        # highest normal 2.9 for PatchCore, 11.8 vs 4.7 for PaDiM)
        with open(tmp_path / pair / "per_clip.csv") as f:
            clips = list(csv.DictReader(f))
        assert len(clips) == 10
        auroc = _pairwise_auroc([c["score"] for c in clips], [c["label"] for c in clips])
        assert auroc == 1.0 and float(row["clip_auroc"]) == auroc
        assert json.loads((tmp_path / pair / "metrics.json").read_text())["clip"]["auroc"] == auroc
        cal = pipeline.load_model(tmp_path / pair / "model.safetensors").calibration
        assert cal.held_out and cal.n_clips == 2 and cal.median < cal.threshold
    with pytest.raises(Exception, match="prefix each key"):
        compare(data, tmp_path / "x", methods=["patchcore"], encoders=["tiny"],
                overrides={"coreset_ratio": "0.1"})


def test_compare_runs_every_subset_of_a_dcase_tree(tmp_path, monkeypatch, one_thread):
    """DCASE 2020 layout with two machine ids: one model per id, a row each and a mean row."""
    import shutil

    from specview import encoders
    from specview.demo import make_demo_dataset

    monkeypatch.setitem(encoders.ENCODERS, "tiny", TinyEncoder)
    root = tmp_path / "dev_data" / "fan"
    for k, mid in enumerate(("id_00", "id_02")):
        src = make_demo_dataset(tmp_path / f"src{k}", machine="fan", seed=10 + k, n_train=8,
                                n_test_normal=2, n_test_anomalous=2, duration=1.5, sr=16000)
        src = load_dataset(src)
        for i, p in enumerate(src.train):
            dst = root / "train" / f"normal_{mid}_{i:08d}.wav"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, dst)
        for i, c in enumerate(src.test):
            kind = "anomaly" if c.label == 1 else "normal"
            dst = root / "test" / f"{kind}_{mid}_{i:08d}.wav"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(c.path, dst)
    rows = compare(root, tmp_path / "out", methods=["patchcore"], encoders=["tiny"],
                   overrides={"patchcore.coreset_ratio": "0.25"}, faithfulness=False,
                   figures=False, log=lambda _l: None)
    subsets = [r["subset"] for r in rows]
    assert subsets == ["fan/id_00", "fan/id_02", "mean"]
    for r in rows[:2]:
        assert r["n_train"] == 6 and r["n_test"] == 4  # 8 normal clips: 2 kept to calibrate
    assert rows[2]["clip_auroc"] == pytest.approx(np.mean([r["clip_auroc"] for r in rows[:2]]))
    assert (tmp_path / "out" / "fan" / "id_00" / "patchcore-tiny" / "metrics.json").is_file()
