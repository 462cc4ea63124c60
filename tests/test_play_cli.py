"""``specview play``: --out writes exactly what render() gives; bad combinations are one line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from specview.audio import load_audio
from specview.cli import main
from specview.playback import render

SR = 22050


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("playcli") / "clip.wav"
    t = np.arange(2 * SR) / SR
    rng = np.random.default_rng(7)
    x = 0.3 * np.sin(2 * np.pi * 700 * t) + 0.05 * rng.standard_normal(len(t))
    sf.write(str(path), x.astype(np.float32), SR, subtype="FLOAT")
    return path


def test_out_writes_exactly_the_rendered_signal(clip, tmp_path, capsys):
    out = tmp_path / "o.wav"
    assert main(["play", str(clip), "--start", "0.25", "--end", "1.6", "--band", "500", "900",
                 "--speed", "0.5", "--out", str(out)]) == 0
    assert f"{out}: 2.700 s at {SR} Hz" in capsys.readouterr().out
    got, sr = sf.read(str(out), dtype="float32")
    assert sr == SR and sf.info(str(out)).subtype == "FLOAT"
    a = load_audio(clip)
    expect = render(a.samples, a.sr, start=0.25, end=1.6, band=(500.0, 900.0), speed=0.5)
    np.testing.assert_array_equal(got, expect)


def test_out_of_the_whole_clip_is_the_clip_with_fades(clip, tmp_path):
    out = tmp_path / "whole.wav"
    assert main(["play", str(clip), "--out", str(out)]) == 0
    got, _ = sf.read(str(out), dtype="float32")
    x = load_audio(clip).samples
    np.testing.assert_array_equal(got[500:-500], x[500:-500])
    assert got[0] == 0.0 and got[-1] == 0.0


@pytest.mark.parametrize("args,needle", [
    (["--anomaly-only"], "--anomaly-only needs --model M"),
    (["--without-anomaly"], "--without-anomaly needs --model M"),
    (["--anomaly-only", "--without-anomaly", "--model", "m.safetensors"],
     "--anomaly-only and --without-anomaly exclude each other"),
    (["--model", "m.safetensors"], "--anomaly-only or --without-anomaly"),
    (["--speed", "3", "--out", "o.wav"], "argument --speed: 3: must be >= 0.25 and <= 2"),
    (["--start", "1.5", "--end", "1.0", "--out", "o.wav"], "--end 1 must come after --start 1.5"),
    (["--start", "5", "--out", "o.wav"], "--start 5: the clip is 2.000 s long"),
    (["--band", "900", "500", "--out", "o.wav"], "--band 900 500: the second edge must be above"),
    (["--band", "12000", "20000", "--out", "o.wav"], "at or above the clip's Nyquist frequency "
                                                     "(11025 Hz"),
    (["--out", "o.flac"], "written as a float WAV"),
])
def test_bad_combinations_exit_2_with_one_line(clip, tmp_path, capsys, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    assert main(["play", str(clip), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("specview: error:") and needle in err[0], err
    assert not (tmp_path / "o.wav").exists()


def test_errors_from_a_fresh_process_are_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "specview", "play", str(tmp_path / "none.wav"),
                        "--out", str(tmp_path / "o.wav")], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"specview: error: {tmp_path / 'none.wav'}: no such file"]


@pytest.mark.weights
@pytest.mark.slow
def test_anomaly_only_out_matches_render_with_the_model(tmp_path_factory, tmp_path):
    from specview import pipeline
    from specview.demo import make_demo_dataset

    root = make_demo_dataset(tmp_path_factory.mktemp("playmodel") / "fan", machine="fan",
                             n_train=10, n_test_normal=2, n_test_anomalous=3, duration=3.0)
    model = pipeline.fit(root, method="patchcore", overrides={"coreset_ratio": "0.1"})
    model_path = tmp_path / "m.safetensors"
    model.save(model_path)
    wav = sorted((root / "test").glob("anomaly_*whine*.wav"))[0]
    loaded = pipeline.load_model(model_path)
    result = loaded.score_file(wav).result
    audio = load_audio(wav)
    for flag, mask in (("--anomaly-only", "anomaly"), ("--without-anomaly", "without")):
        out = tmp_path / f"{mask}.wav"
        assert main(["play", str(wav), "--model", str(model_path), flag, "--start", "0.5",
                     "--end", "2.0", "--out", str(out)]) == 0
        got, sr = sf.read(str(out), dtype="float32")
        expect = render(audio.samples, audio.sr, start=0.5, end=2.0, mask=mask, result=result,
                        calibration=loaded.calibration)
        assert sr == audio.sr
        np.testing.assert_array_equal(got, expect)


def test_without_out_it_plays_the_rendered_signal_and_waits(clip, monkeypatch, capsys):
    import specview.playback as pb

    calls = []

    class Recorder:
        @staticmethod
        def available():
            return True, "output device 'test'"

        def play(self, samples, sr, **kw):
            calls.append(("play", samples.copy(), sr))

        def wait(self, timeout=None):
            calls.append(("wait",))
            return len([c for c in calls if c[0] == "wait"]) >= 3  # done on the third poll

        def close(self):
            calls.append(("close",))

    monkeypatch.setattr(pb, "Player", Recorder)
    assert main(["play", str(clip), "--start", "0.5", "--speed", "2"]) == 0
    assert "playing 0.750 s of" in capsys.readouterr().out
    a = load_audio(clip)
    assert [c[0] for c in calls] == ["play", "wait", "wait", "wait", "close"]
    np.testing.assert_array_equal(calls[0][1], render(a.samples, a.sr, start=0.5, speed=2.0))
    assert calls[0][2] == SR


def test_no_output_device_is_one_line(clip, monkeypatch, capsys):
    import specview.playback as pb

    monkeypatch.setattr(pb.Player, "available", staticmethod(lambda: (False, "no device")))
    assert main(["play", str(clip)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["specview: error: cannot play: no device; use --out OUT.wav to write the "
                   "signal instead"]
