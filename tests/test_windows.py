"""The one windowing helper (specview.windows): plans with known answers, their invariants, the
stitching; and, for each of its users, the stitched result of a long synthetic spectrogram equal
bit for bit to what the code before the helper computed (the reference implementations below
are that code, kept here as the definition of the expected output)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_texture import machine

from specview import pipeline
from specview.detectors.cfa import CFA
from specview.detectors.padim import PaDiM
from specview.detectors.patchcore import PatchCore
from specview.detectors.stfpm import STFPM, STFPMParams
from specview.detectors.zscore import ZScore
from specview.encoders.tiny import TinyEncoder
from specview.types import AnomalyResult, Spectrogram
from specview.windows import Span, plan_windows, round_up, stitch, window_starts

# -- plans with known answers -------------------------------------------------------------------


def test_short_lengths_are_one_window():
    assert plan_windows(10, 16) == [Span(0, 10, 0, 10)]
    # with margins: whatever one window holds with its context
    assert plan_windows(24, 16, margin=4) == [Span(0, 24, 0, 24)]
    assert plan_windows(25, 16, margin=4) != [Span(0, 25, 0, 25)]
    assert plan_windows(30, 16, whole_up_to=30) == [Span(0, 30, 0, 30)]


def test_tiles_with_margins_and_a_shorter_last_core():
    assert plan_windows(40, 16, margin=4) == [
        Span(0, 20, 0, 16), Span(12, 36, 16, 32), Span(28, 40, 32, 40)]


def test_end_aligned_last_window():
    assert plan_windows(40, 16, align_end=True) == [
        Span(0, 16, 0, 16), Span(16, 32, 16, 32), Span(24, 40, 32, 40)]
    assert plan_windows(48, 16, align_end=True) == [
        Span(0, 16, 0, 16), Span(16, 32, 16, 32), Span(32, 48, 32, 48)]
    assert window_starts(152, 64) == [0, 64, 88]
    assert window_starts(64, 64) == [0] and window_starts(50, 64) == [0]


def test_window_and_margin_are_rounded_to_the_multiple():
    # window 20 -> 16, margin 3 -> 8 with multiple 8
    assert plan_windows(64, 20, margin=3, multiple=8) == [
        Span(0, 24, 0, 16), Span(8, 40, 16, 32), Span(24, 56, 32, 48), Span(40, 64, 48, 64)]
    assert plan_windows(64, 3, multiple=8)[0] == Span(0, 8, 0, 8)  # at least one multiple
    assert round_up(17, 8) == 24 and round_up(16, 8) == 16


@pytest.mark.parametrize("align_end", [False, True])
@pytest.mark.parametrize("margin", [0, 1, 7, 16])
@pytest.mark.parametrize("window", [1, 5, 16, 33])
@pytest.mark.parametrize("multiple", [1, 4])
def test_valid_parts_cover_the_length_exactly_once(align_end, margin, window, multiple):
    for length in [1, 2, 15, 16, 17, 64, 99, 100, 257]:
        spans = plan_windows(length, window, margin=margin, multiple=multiple,
                             align_end=align_end)
        w = max(multiple, window // multiple * multiple)
        mg = round_up(margin, multiple)
        covered = np.zeros(length, dtype=int)
        for s in spans:
            covered[s.valid_start : s.valid_stop] += 1
            assert 0 <= s.start <= s.valid_start < s.valid_stop <= s.stop <= length
        assert (covered == 1).all(), (length, spans)
        assert [s.valid_start for s in spans] == sorted(s.valid_start for s in spans)
        if len(spans) == 1:
            assert spans[0] == Span(0, length, 0, length)
            continue
        for s in spans:  # margins: as much context as exists, at most the margin
            assert s.valid_start - s.start == min(mg, s.valid_start) or (
                align_end and s is spans[-1])
            assert s.stop - s.valid_stop == min(mg, length - s.valid_stop)
        *inner, last = spans
        assert all(s.valid_stop - s.valid_start == w for s in inner)
        assert last.stop == length and last.valid_stop == length
        if align_end:  # the last window is a full one (plus its context), ending at the end
            assert last.start == max(0, length - w - mg)
        else:  # a shorter last core
            assert last.valid_start == (length - 1) // w * w
        if length % multiple == 0:
            assert all(v % multiple == 0 for s in spans
                       for v in (s.start, s.stop, s.valid_start, s.valid_stop))


# -- stitching ----------------------------------------------------------------------------------


def test_stitch_keeps_the_valid_parts():
    x = np.arange(40.0)[None].repeat(2, 0)
    spans = plan_windows(40, 16, margin=4)
    parts = [x[:, s.slice] for s in spans]
    assert np.array_equal(stitch(parts, spans), x)
    # at a coarser stride (results of 4 frames per element)
    coarse = [p[:, ::4] for p in parts]
    assert np.array_equal(stitch(coarse, spans, stride=4), x[:, ::4])
    # torch tensors come back as tensors; 1-D parts too
    t = torch.arange(40.0)
    got = stitch([t[s.slice] for s in spans], spans)
    assert isinstance(got, torch.Tensor) and torch.equal(got, t)


def test_stitch_mean_averages_overlapping_windows():
    spans = plan_windows(6, 4, align_end=True)  # windows 0:4 and 2:6
    a = torch.ones(1, 4)
    b = torch.full((1, 4), 3.0)
    got = stitch([a, b], spans, overlap="mean")
    assert got.dtype == torch.float32
    assert got.tolist() == [[1.0, 1.0, 2.0, 2.0, 3.0, 3.0]]
    # the same on a stride-2 grid
    got = stitch([a[:, :2], b[:, :2]], spans, stride=2, overlap="mean")
    assert got.tolist() == [[1.0, 2.0, 3.0]]
    with pytest.raises(ValueError):
        stitch([a], spans)
    with pytest.raises(ValueError):
        stitch([a, b], spans, overlap="max")


# -- each user's stitched result equals the previous code's ------------------------------------

pytestmark = pytest.mark.usefixtures("one_thread")


def _old_chunked(forward, x, encoder):
    """Encoder._features / STFPM._student_features before the helper."""
    m = encoder.time_multiple
    padded = x.shape[1]
    chunk = encoder.chunk_frames // m * m
    margin = -(-encoder.chunk_margin // m) * m
    if padded <= chunk + 2 * margin:
        return [t[0] for t in forward(x[None])]
    grids = encoder.layer_grids()
    parts = [[] for _ in grids]
    for a in range(0, padded, chunk):
        b = min(padded, a + chunk)
        lo, hi = max(0, a - margin), min(padded, b + margin)
        outs = forward(x[None, :, lo:hi])
        for i, (g, o) in enumerate(zip(grids, outs, strict=True)):
            s = (a - lo) // g.time_stride
            parts[i].append(o[0, :, :, s : s + (b - a) // g.time_stride])
    return [torch.cat(p, dim=-1) for p in parts]


def _old_window_starts(n_time, length):
    if n_time <= length:
        return [0]
    starts = list(range(0, n_time - length + 1, length))
    if starts[-1] + length < n_time:
        starts.append(n_time - length)
    return starts


def _old_stitch_windows(grids, starts, n_cells):
    f = grids[0].shape[0]
    total = torch.zeros(f, n_cells, dtype=torch.float64)
    count = torch.zeros(n_cells, dtype=torch.float64)
    for g, s in zip(grids, starts, strict=True):
        w = min(g.shape[1], n_cells - s)
        total[:, s : s + w] += g[:, :w].double().cpu()
        count[s : s + w] += 1
    return (total / count.clamp_min(1)).float()


def _old_score_windows(detector, encoder, spec, window_seconds):
    """pipeline._score_windows before the helper."""
    fe = encoder.front_end
    n_time = spec.values.shape[1]
    m = encoder.time_multiple
    win = max(m, int(window_seconds / fe.seconds_per_frame) // m * m)
    if n_time <= win * 1.5:
        return detector.score(encoder, spec)
    margin = 16 * m
    maps, frames = [], []
    best_peak, clip = -np.inf, -np.inf
    for a in range(0, n_time, win):
        b = min(n_time, a + win)
        lo, hi = max(0, a - margin), min(n_time, b + margin)
        sub = Spectrogram(spec.values[:, lo:hi], spec.times[lo:hi], spec.freqs, spec.unit,
                          (hi - lo) * fe.seconds_per_frame)
        r = detector.score(encoder, sub, valid=(a - lo, b - lo))
        maps.append(r.map[:, a - lo : b - lo])
        frames.append(r.frame_scores[a - lo : b - lo])
        peak = r.extras.get("peak_score", r.clip_score)
        if peak > best_peak:
            best_peak, clip = peak, r.clip_score
    return AnomalyResult(np.concatenate(maps, axis=1), spec.times, spec.freqs, float(clip),
                         np.concatenate(frames))


@pytest.fixture
def chunked(monkeypatch):
    """The tiny encoder with short chunks, so a long spectrogram runs in many of them."""
    monkeypatch.setattr(TinyEncoder, "chunk_frames", 40)
    monkeypatch.setattr(TinyEncoder, "chunk_margin", 10)
    return TinyEncoder()


@pytest.fixture(scope="module")
def train(enc):
    return [machine(i, 64, enc) for i in range(4)]


@pytest.fixture(scope="module")
def long(enc):
    spec = machine(77, 613, enc)
    spec.values[10:16, 300:330] += 0.4  # something to find
    return spec


def test_encoder_chunks_as_before(chunked, long):
    x = torch.from_numpy(np.pad(long.values, ((0, 0), (0, 3)), mode="edge"))  # 616 = 77 * 8
    new = chunked.features(long.values)
    old = _old_chunked(chunked._forward, x, chunked)
    assert len(plan_windows(616, 40, margin=10, multiple=8)) > 10
    assert len(new) == len(old) == 3
    for a, b in zip(new, old, strict=True):
        assert a.shape == b.shape and torch.equal(a, b)


def test_stfpm_student_chunks_as_before(chunked, long, train):
    det = STFPM(STFPMParams(epochs=1, batch_size=2, crop_seconds=0.5))
    det.fit(chunked, train)
    net = det.bind(chunked)
    x = torch.from_numpy(np.pad(long.values, ((0, 0), (0, 3)), mode="edge"))
    new = det._student_features(chunked, x)
    old = _old_chunked(lambda t: net(t, batch_stats=False), x, chunked)
    for a, b in zip(new, old, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("cls, over", [(PaDiM, {"mode": "cell"}), (CFA, {"epochs": 1})], ids=["padim", "cfa"])
def test_fixed_windows_stitch_as_before(cls, over, enc, long, train):
    det = cls(cls.Params(**over))
    det.fit(enc, train)
    window = det.window_frames
    assert window == 64
    res = det.score(enc, long)
    size = 616
    x = np.pad(long.values, ((0, 0), (0, size - 613)), mode="edge")
    starts = _old_window_starts(size, window)
    assert starts[-1] == size - window and starts[-1] % window  # an overlapping last window
    if cls is PaDiM:
        grids = [det._cell_scores(det._embedding(enc, x[:, s : s + window])) for s in starts]
    else:
        grids = [det._window_grid(enc, x[:, s : s + window]) for s in starts]
    stride = window // grids[0].shape[1]
    old = _old_stitch_windows(grids, [s // stride for s in starts], size // stride)
    assert np.array_equal(res.extras["patch_grid"], old.numpy())


@pytest.mark.parametrize("cls, over", [
    (PatchCore, {}), (PaDiM, {}), (PaDiM, {"mode": "row"}), (CFA, {"epochs": 1}),
    (STFPM, {"epochs": 1, "batch_size": 2, "crop_seconds": 0.5}), (ZScore, {}),
], ids=["patchcore", "padim", "padim-row", "cfa", "stfpm", "zscore"])
def test_pipeline_windows_stitch_as_before(cls, over, enc, long, train):
    det = cls(cls.Params(**over))
    det.fit(enc, train)
    seconds = 1.0  # 62 frames -> windows of 56 frames, 128 frames of context each side
    assert len(plan_windows(613, 56, margin=128, multiple=8, whole_up_to=84)) == 11
    new = pipeline.score_spectrogram(det, enc, long, window_seconds=seconds)
    old = _old_score_windows(det, enc, long, seconds)
    assert np.array_equal(new.map, old.map)
    assert np.array_equal(new.frame_scores, old.frame_scores)
    assert new.clip_score == old.clip_score
    # and a recording scored whole
    short = machine(78, 80, enc)
    assert np.array_equal(pipeline.score_spectrogram(det, enc, short, window_seconds=seconds).map,
                          det.score(enc, short).map)
