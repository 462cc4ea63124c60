"""The CLI end to end on a small demo dataset, and its one-line errors."""

import csv
import subprocess
import sys

import numpy as np
import pytest

from specview.cli import main

pytestmark = [pytest.mark.weights, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    from specview.demo import make_demo_data

    root = tmp_path_factory.mktemp("cli")
    make_demo_data(root, machines=["valve"], seed=3, n_train=6, n_test_normal=2,
                   n_test_anomalous=3, duration=2.0)
    return root


def test_fit_then_score(demo_root, tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    assert main(["fit", str(demo_root / "valve"), "--method", "patchcore", "--out", str(model),
                 "--set", "coreset_ratio=0.05", "--set", "hop_length=1024", "--device", "cpu"]) == 0
    assert "6 clips" in capsys.readouterr().out
    out = tmp_path / "scores"
    assert main(["score", str(model), str(demo_root / "valve"), "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "scores.csv").read_text().splitlines()))
    assert len(rows) == 5 and {"file", "score"} <= set(rows[0])
    for row in rows:
        z = np.load(out / row["map"])
        assert z["map"].dtype == np.float32 and z["map"].ndim == 2
        assert z["map"].shape == (len(z["freqs"]), len(z["times"]))
        assert z["frame_scores"].shape == z["times"].shape
        assert z["times"][1] - z["times"][0] == pytest.approx(1024 / 44100)
        assert float(row["score"]) > 0


def _run(*args):
    return subprocess.run([sys.executable, "-m", "specview", *args], capture_output=True, text=True)


@pytest.mark.parametrize("args,needle", [
    (["fit", "/nonexistent", "--out", "x.safetensors"], "/nonexistent: no such file"),
    (["score", "/nonexistent.safetensors", ".", "--out", "o"], "no such model file"),
    (["fit", ".", "--out", "x.bin"], "model files end in .safetensors"),
])
def test_bad_input_is_one_line_and_nonzero(args, needle):
    r = _run(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr


def test_bad_audio_while_scoring(demo_root, tmp_path):
    model = tmp_path / "m.safetensors"
    assert main(["fit", str(demo_root / "valve"), "--out", str(model),
                 "--set", "coreset_ratio=0.05"]) == 0
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    r = _run("score", str(model), str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "broken.wav: cannot read audio" in r.stderr


@pytest.mark.parametrize("method", ["padim", "cfa", "stfpm"])
def test_every_method_fits_and_scores_from_the_cli(demo_root, tmp_path, capsys, method):
    model = tmp_path / f"{method}.safetensors"
    extra = {"cfa": ["--set", "epochs=2"], "stfpm": ["--set", "epochs=2"]}.get(method, [])
    assert main(["fit", str(demo_root / "valve"), "--method", method, "--out", str(model),
                 *extra]) == 0
    out, err = capsys.readouterr()
    assert f"{method} on aisfx, 6 clips" in out
    if method != "padim":  # trained methods report epoch and loss as they go
        assert "epoch 1: loss" in err and "epoch 2: loss" in err
        assert "trained 2 epochs" in out
    assert main(["score", str(model), str(demo_root / "valve"), "--out", str(tmp_path / "o")]) == 0
    rows = list(csv.DictReader((tmp_path / "o" / "scores.csv").read_text().splitlines()))
    assert len(rows) == 5 and all(np.isfinite(float(r["score"])) for r in rows)


def test_evaluate_writes_the_report(demo_root, tmp_path, capsys):
    import json

    model = tmp_path / "m.safetensors"
    assert main(["fit", str(demo_root / "valve"), "--out", str(model),
                 "--set", "coreset_ratio=0.05"]) == 0
    out = tmp_path / "ev"
    assert main(["evaluate", str(model), str(demo_root / "valve"), "--out", str(out),
                 "--no-figures"]) == 0
    printed = capsys.readouterr().out
    assert "clip:" in printed and "AU-PRO" in printed and "faithfulness" in printed
    rep = json.loads((out / "metrics.json").read_text())
    assert rep["n_clips"]["test"] == 5 and rep["spectrogram"]["gt"] == "boxes"
    assert rep["faithfulness"]["n_clips"] == 3
    assert not (out / "roc.png").exists() and (out / "per_clip.csv").is_file()
    r = _run("evaluate", str(model), str(tmp_path / "missing"), "--out", str(out))
    assert r.returncode == 2 and "missing" in r.stderr
