"""PatchCore with the real aisfx weights on a small demo dataset: known boxes, known labels."""

import json

import numpy as np
import pytest

from specview import pipeline
from specview.datasets import load_dataset
from specview.demo import make_demo_dataset
from specview.errors import ModelFileError

pytestmark = [pytest.mark.weights, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo") / "fan"
    make_demo_dataset(root, machine="fan", seed=7, n_train=16, n_test_normal=6,
                      n_test_anomalous=12, duration=3.0)
    return load_dataset(root)


@pytest.fixture(scope="module")
def model(demo):
    return pipeline.fit(demo.root)


@pytest.fixture(scope="module")
def scored(model, demo):
    return {c.path.name: (c, model.score_file(c.path)) for c in demo.test}


def _peak_in_box(res, boxes):
    r, c = np.unravel_index(int(np.argmax(res.map)), res.map.shape)
    return any(b.t0 <= res.times[c] <= b.t1 and b.f0 <= res.freqs[r] <= b.f1 for b in boxes)


def test_map_is_on_the_spectrogram_grid(scored):
    clip, s = next(iter(scored.values()))
    r = s.result
    assert r.map.shape == s.display.values.shape
    assert np.array_equal(r.times, s.display.times) and np.array_equal(r.freqs, s.display.freqs)
    assert r.map.dtype == np.float32 and np.isfinite(r.map).all()
    assert r.frame_scores.shape == (r.map.shape[1],)


def test_anomalous_clips_rank_above_normal(scored):
    pos = [s.result.clip_score for c, s in scored.values() if c.label == 1]
    neg = [s.result.clip_score for c, s in scored.values() if c.label == 0]
    auroc = np.mean([[p > n for n in neg] for p in pos])
    assert auroc >= 0.8, f"AUROC {auroc:.2f}"


def test_map_peak_inside_the_injected_box_for_most_clips(scored):
    hits = [_peak_in_box(s.result, c.boxes()) for c, s in scored.values() if c.label == 1]
    assert np.mean(hits) >= 0.6, f"{sum(hits)}/{len(hits)} peaks in their box"


def test_save_load_round_trip_gives_identical_scores(model, demo, tmp_path):
    path = tmp_path / "m.safetensors"
    model.save(path)
    again = pipeline.load_model(path)
    clip = demo.test[-1].path
    a, b = model.score_file(clip).result, again.score_file(clip).result
    assert a.clip_score == b.clip_score
    assert np.array_equal(a.map, b.map)
    meta = again.info
    # 16 training clips: 2 held out to calibrate the scores, 14 fitted
    assert meta["n_train_clips"] == 14 and meta["n_calibration_clips"] == 2
    assert meta["train_seconds"] == pytest.approx(42.0, abs=0.1)
    assert again.calibration == model.calibration and again.calibration.held_out


def _rewrite_meta(src, dst, change):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(src), framework="pt") as f:
        meta = json.loads(f.metadata()["specview"])
    change(meta)
    save_file(load_file(str(src)), str(dst), metadata={"specview": json.dumps(meta)})


def test_foreign_or_damaged_model_files_are_refused(model, tmp_path):
    good = tmp_path / "m.safetensors"
    model.save(good)
    truncated = tmp_path / "t.safetensors"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match="t.safetensors"):
        pipeline.load_model(truncated)
    other = tmp_path / "o.safetensors"
    _rewrite_meta(good, other, lambda m: m["encoder"].update(weights="sha256:0000"))
    with pytest.raises(ModelFileError, match="another encoder weights"):
        pipeline.load_model(other)
    fe = tmp_path / "fe.safetensors"
    _rewrite_meta(good, fe, lambda m: m["encoder"]["front_end"].update(n_mels=64))
    with pytest.raises(ModelFileError, match="another front end"):
        pipeline.load_model(fe)
    unknown = tmp_path / "u.safetensors"
    _rewrite_meta(good, unknown, lambda m: m.update(method="magic"))
    with pytest.raises(ModelFileError, match="unknown method 'magic'"):
        pipeline.load_model(unknown)
    plain = tmp_path / "p.safetensors"
    import torch
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(plain))
    with pytest.raises(ModelFileError, match="not a specview model"):
        pipeline.load_model(plain)


def test_long_recording_is_scored_in_windows_like_a_whole(model, demo):
    from specview.types import Audio

    clips = [model.load(c.path).samples for c in demo.test[:6]]
    audio = Audio(np.concatenate(clips), clips and 44100)
    from specview.spectrogram import front_end_features

    spec = front_end_features(audio, model.encoder.front_end)
    whole = model.detector.score(model.encoder, spec)
    windowed = pipeline.score_spectrogram(model.detector, model.encoder, spec, window_seconds=4.0)
    assert windowed.map.shape == whole.map.shape
    np.testing.assert_allclose(windowed.map, whole.map, rtol=1e-3, atol=1e-3 * whole.map.max())
    assert windowed.clip_score == pytest.approx(whole.clip_score, rel=1e-3)
