"""PaDiM: known answers for the Gaussians, the Mahalanobis distance and the windowing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_texture import machine as texture
from tiny_texture import spec_of

from specview.detectors.components import (
    GaussianAccumulator,
    context_features,
    context_frames,
    local_patch_features,
    mahalanobis,
    pad_frames,
)
from specview.detectors.padim import PaDiM, PaDiMParams
from specview.encoders.tiny import TinyEncoder, TinyParams
from specview.errors import ModelFileError, ParameterError
from specview.types import Spectrogram
from specview.windows import window_starts

pytestmark = pytest.mark.usefixtures("one_thread")


def machine(seed: int, n_time: int, enc: TinyEncoder) -> Spectrogram:
    return texture(seed, n_time, enc, clip_offset=0.02)


def numpy_gaussian(x: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The reference computation: ``np.cov`` (unbiased) + eps I, then its inverse."""
    mean = x.mean(0)
    cov = np.cov(x, rowvar=False) + eps * np.eye(x.shape[1])
    return mean, np.linalg.inv(cov)


def numpy_mahalanobis(v: np.ndarray, mean: np.ndarray, inv: np.ndarray) -> float:
    d = v - mean
    return float(np.sqrt(d @ inv @ d))


def test_streaming_gaussian_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 60, 5)) @ rng.standard_normal((5, 5)) + 4.0  # correlated, offset
    acc = GaussianAccumulator(3, 5)
    for a in range(0, 60, 7):  # uneven chunks: the sums do not depend on the chunking
        acc.add(torch.from_numpy(x[:, a : a + 7]))
    mean, whiten = acc.finalize(0.01)
    q = rng.standard_normal((3, 4, 5)) + 4.0
    got = mahalanobis(torch.from_numpy(q), mean, whiten).numpy()
    for c in range(3):
        m, inv = numpy_gaussian(x[c], 0.01)
        np.testing.assert_allclose(mean[c].numpy(), m, rtol=1e-12)
        # W^T W is the inverse of the regularised covariance
        np.testing.assert_allclose((whiten[c].T @ whiten[c]).numpy(), inv, rtol=1e-9, atol=1e-9)
        for k in range(4):
            assert got[c, k] == pytest.approx(numpy_mahalanobis(q[c, k], m, inv), rel=1e-9)


def test_row_mode_distance_equals_a_direct_numpy_computation(enc):
    train = [machine(i, 90 + 7 * i, enc) for i in range(5)]  # different lengths
    det = PaDiM(PaDiMParams(mode="row", n_features=6, seed=3))
    det.fit(enc, train)
    index = det.index.numpy()
    assert len(index) == 6 and len(set(index.tolist())) == 6
    ctx = context_frames(enc, det.params.context_seconds)

    def emb(spec):  # (F, T, d) embeddings with the chosen channels
        return context_features(enc, spec.values, ctx).numpy()[index].transpose(1, 2, 0)

    samples = np.concatenate([emb(s) for s in train], axis=1)  # every frame of every clip
    test = machine(99, 70, enc)
    test.values[10:14, 30:40] += 0.5
    grid = det.score(enc, test).extras["patch_grid"]
    e = emb(test)
    assert grid.shape == e.shape[:2]
    for f in (0, 5, 6, 15):
        m, inv = numpy_gaussian(samples[f].astype(np.float64), 0.01)
        for t in (0, 17, 34):
            assert grid[f, t] == pytest.approx(numpy_mahalanobis(e[f, t], m, inv), rel=1e-4)


def test_cell_mode_distance_equals_a_direct_numpy_computation(enc):
    train = [machine(i, 64, enc) for i in range(12)]
    det = PaDiM(PaDiMParams(mode="cell", n_features=4, epsilon=0.05))
    det.fit(enc, train)
    assert det.window_frames == 64
    index = det.index.numpy()

    def emb(spec):
        return local_patch_features(enc.features(spec.values), neighbourhood=1).numpy()[index]

    x = np.stack([emb(s) for s in train])  # (clips, d, F, T)
    test = machine(50, 64, enc)
    grid = det.score(enc, test).extras["patch_grid"]
    e = emb(test)
    for f, t in [(0, 0), (3, 17), (15, 31)]:
        m, inv = numpy_gaussian(x[:, :, f, t].astype(np.float64), 0.05)
        assert grid[f, t] == pytest.approx(numpy_mahalanobis(e[:, f, t], m, inv), rel=1e-4)


def test_channel_count_defaults_to_a_quarter_of_the_encoder(enc):
    det = PaDiM(PaDiMParams(mode="row"))
    det.fit(enc, [machine(0, 64, enc)])
    assert len(det.index) == round(0.25 * (8 + 16 + 32))
    det = PaDiM(PaDiMParams(mode="row", max_features=5))
    det.fit(enc, [machine(0, 64, enc)])
    assert len(det.index) == 5
    with pytest.raises(ParameterError, match="exceeds"):
        PaDiM(PaDiMParams(n_features=57)).fit(enc, [machine(0, 64, enc)])


def test_row_mode_fits_and_scores_clips_of_any_length(enc):
    det = PaDiM(PaDiMParams(mode="row"))
    det.fit(enc, [machine(i, n, enc) for i, n in enumerate((40, 77, 130, 256))])
    for n in (9, 50, 333):
        res = det.score(enc, machine(100 + n, n, enc))
        assert res.map.shape == (32, n) and np.isfinite(res.map).all()
    assert det.mean.shape[0] == 16  # one Gaussian per frequency row of the block1 grid


def test_cell_mode_stitches_a_long_recording_from_training_windows(enc):
    det = PaDiM(PaDiMParams(mode="cell"))
    det.fit(enc, [machine(i, 61, enc) for i in range(6)])  # 61 frames -> windows of 64
    assert det.window_frames == 64
    pieces = [pad_frames(machine(20 + k, 61, enc).values, 64) for k in range(3)]
    long = spec_of(np.concatenate(pieces, axis=1), enc)  # exactly three windows
    res = det.score(enc, long)
    assert res.map.shape == (32, 192)
    each = [det.score(enc, spec_of(p, enc)).extras["patch_grid"] for p in pieces]
    np.testing.assert_allclose(res.extras["patch_grid"], np.concatenate(each, axis=1), rtol=1e-6)

    # a length that is no multiple: the last window is aligned to the end and overlaps
    odd = spec_of(np.concatenate(pieces, axis=1)[:, :150], enc)
    assert window_starts(152, 64) == [0, 64, 88]
    res = det.score(enc, odd)
    assert res.map.shape == (32, 150) and np.isfinite(res.map).all()
    np.testing.assert_allclose(res.extras["patch_grid"][:, :32], each[0], rtol=1e-6)


def test_short_clips_are_padded_or_scored_against_the_window_prefix(enc):
    train = [machine(i, 64, enc) for i in range(6)]
    short = machine(40, 21, enc)  # 21 frames -> encoder pads to 24 = 12 cells of 32
    pad = PaDiM(PaDiMParams(mode="cell"))
    pad.fit(enc, train)
    res = pad.score(enc, short)
    assert res.map.shape == (32, 21) and np.isfinite(res.map).all()
    padded = spec_of(pad_frames(short.values, 64), enc)  # documented: edge replication
    np.testing.assert_array_equal(res.extras["patch_grid"],
                                  pad.score(enc, padded).extras["patch_grid"])

    prefix = PaDiM(PaDiMParams(mode="cell", short_clips="prefix"))
    prefix.load_state_tensors(pad.state_tensors())
    res = prefix.score(enc, short)
    assert res.map.shape == (32, 21)
    grid = res.extras["patch_grid"]
    assert grid.shape == (16, 12)
    emb = prefix._embedding(enc, short.values)  # (d, 16, 12)
    x = emb.flatten(1).T[:, None, :]
    want = mahalanobis(x, prefix.mean[:, :12].reshape(16 * 12, -1),
                       prefix.whiten[:, :12].reshape(16 * 12, *prefix.whiten.shape[2:]))
    np.testing.assert_allclose(grid, want[:, 0].reshape(16, 12).numpy(), rtol=1e-6)


def test_state_is_validated_on_load(enc):
    det = PaDiM(PaDiMParams(mode="row"))
    det.fit(enc, [machine(0, 64, enc), machine(1, 64, enc)])
    state = det.state_tensors()
    with pytest.raises(ModelFileError, match="cell mode"):
        PaDiM(PaDiMParams(mode="cell")).load_state_tensors(state)
    with pytest.raises(ModelFileError, match="lacks"):
        PaDiM(PaDiMParams(mode="row")).load_state_tensors({"mean": state["mean"]})
    bad = dict(state, whiten=state["whiten"][:, :-1])
    with pytest.raises(ModelFileError, match="do not fit together"):
        PaDiM(PaDiMParams(mode="row")).load_state_tensors(bad)
    # a model scored with another encoder setup is refused with a clear message
    other = TinyEncoder(TinyParams(layers=("block1",)))
    with pytest.raises(ModelFileError, match="another encoder setup"):
        det.score(other, machine(3, 64, other))


@pytest.mark.parametrize("bad", [
    {"mode": "column"}, {"short_clips": "wrap"}, {"epsilon": 0.0}, {"feature_ratio": 0.0},
    {"n_features": -1}, {"window_seconds": -1.0}, {"context_seconds": -0.1},
])
def test_bad_parameters_are_refused(bad):
    with pytest.raises(ParameterError):
        PaDiMParams(**bad)
