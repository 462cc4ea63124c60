"""Evaluating long test clips in a stream (issue 14): the same report as whole-file scoring.

A dataset with short clips and one 130-s anomalous clip (a burst in a Raven box, its isolated
source beside it) is evaluated twice: with LONG_SECONDS lowered to 60 s, so that the long clip
is scored by longscore.score_long_result in a stream, and as it is, where every clip is scored
whole. Known answer: the same maps, scores, flagged regions and metrics within float tolerance;
the short clips are scored the way they always were.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
from machine_sounds import SR, machine_tone

from specview import longscore
from specview.annotations import sidecar_path
from specview.annotations.raven_format import write_raven
from specview.types import Box

BURST_AT, BURST_S, BURST_HZ = 97.0, 0.6, 3000.0


def _burst() -> np.ndarray:
    t = np.arange(int(BURST_S * SR)) / SR
    return (0.2 * np.sin(2 * np.pi * BURST_HZ * t) * np.hanning(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def dataset_and_model(tmp_path_factory):
    from specview import pipeline

    root = tmp_path_factory.mktemp("longeval")
    (root / "train").mkdir()
    (root / "test" / "sources").mkdir(parents=True)
    for i in range(10):
        sf.write(root / "train" / f"normal_{i:02d}.wav", machine_tone(5.0, seed=i), SR)
    for i in range(2):
        sf.write(root / "test" / f"normal_{i:02d}.wav", machine_tone(5.0, seed=50 + i), SR)
    short = machine_tone(5.0, seed=60)
    short[2 * SR:2 * SR + _burst().size] += _burst()
    sf.write(root / "test" / "anomaly_00.wav", short, SR)
    write_raven(sidecar_path(root / "test" / "anomaly_00.wav"),
                [Box(2.0, 2.0 + BURST_S, 2500.0, 3500.0)])
    x = machine_tone(130.0, seed=99)
    at = int(BURST_AT * SR)
    src = np.zeros_like(x)
    src[at:at + _burst().size] = _burst()
    sf.write(root / "test" / "anomaly_long.wav", x + src, SR, subtype="FLOAT")
    sf.write(root / "test" / "sources" / "anomaly_long.anomaly.wav", src, SR, subtype="FLOAT")
    write_raven(sidecar_path(root / "test" / "anomaly_long.wav"),
                [Box(BURST_AT, BURST_AT + BURST_S, 2500.0, 3500.0)])
    model = pipeline.fit(root / "train", method="patchcore", overrides={"coreset_ratio": "0.2"})
    return root, model


def _leaves(d, prefix=""):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _leaves(v, f"{prefix}.{k}")
    elif isinstance(d, (list, tuple)):
        for i, v in enumerate(d):
            yield from _leaves(v, f"{prefix}[{i}]")
    else:
        yield prefix, d


@pytest.mark.weights
def test_a_long_clip_evaluated_in_a_stream_equals_the_whole_file_result(
        dataset_and_model, monkeypatch):
    from specview.evaluation import evaluate

    root, model = dataset_and_model
    whole_report, whole = evaluate(model, root, faithfulness=False, figures=False)
    streamed_paths = []
    real = longscore.score_long_result

    def spy(model, path, **kw):
        streamed_paths.append(path.name)
        return real(model, path, **kw)

    monkeypatch.setattr(longscore, "LONG_SECONDS", 60.0)
    monkeypatch.setattr(longscore, "score_long_result", spy)
    report, streamed = evaluate(model, root, faithfulness=False, figures=False)
    assert streamed_paths == ["anomaly_long.wav"]  # the short clips are scored whole

    assert [e.clip.path.name for e in streamed] == [e.clip.path.name for e in whole]
    for a, b in zip(streamed, whole, strict=True):
        ra, rb = a.result, b.result
        assert ra.map.shape == rb.map.shape
        np.testing.assert_allclose(ra.times, rb.times, atol=1e-9)
        np.testing.assert_allclose(ra.map, rb.map, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(ra.frame_scores, rb.frame_scores, rtol=1e-4, atol=1e-4)
        assert ra.clip_score == pytest.approx(rb.clip_score, rel=1e-5)
        for key in ("region_map", "excess_power"):
            if a.clip.path.name == "anomaly_long.wav":  # dropped once its regions are found
                assert key not in ra.extras
                continue
            assert (key in ra.extras) == (key in rb.extras)
            if key in rb.extras:
                np.testing.assert_allclose(ra.extras[key], rb.extras[key], rtol=1e-4, atol=1e-4)
        assert [(round(r.box.t0, 4), round(r.box.f0, 1)) for r in a.flagged] == [
            (round(r.box.t0, 4), round(r.box.f0, 1)) for r in b.flagged]
        assert a.matched == b.matched
        if b.energy_mask is not None:
            np.testing.assert_array_equal(a.energy_mask, b.energy_mask)
    long_clip = next(e for e in streamed if e.clip.path.name == "anomaly_long.wav")
    assert long_clip.display is None and long_clip.result.map.shape[1] > 5000
    peak = np.unravel_index(np.argmax(long_clip.result.map), long_clip.result.map.shape)
    assert abs(long_clip.result.times[peak[1]] - (BURST_AT + BURST_S / 2)) < 0.5

    got, want = dict(_leaves(report)), dict(_leaves(whole_report))
    assert got.keys() == want.keys()
    for k, v in want.items():
        if "seconds" in k or "time" in k or k.endswith("per_s"):
            continue
        if isinstance(v, float) and not math.isnan(v):
            assert got[k] == pytest.approx(v, rel=1e-4, abs=1e-6), k
        elif not isinstance(v, float):
            assert got[k] == v, k
