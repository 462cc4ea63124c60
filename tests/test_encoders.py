import json
import pickle

import numpy as np
import pytest
import torch
from aisfx_reference import ATOL, LAYERS, PATH, RTOL, reference_input, summarise

from specview.encoders import ENCODERS, make_encoder
from specview.encoders.aisfx import AisfxEncoder, AisfxParams, load_checkpoint
from specview.errors import ParameterError, WeightsError

pytestmark = pytest.mark.weights

#: SHA-256 of aisfx 0.1.2's models/checkpoint.pth (24 900 277 bytes), the default weights
SHIPPED_SHA256 = "499ea75909c932a2f94c35fa722fa4fabc5bcb7e84917209cc5f7402627b7eb5"


@pytest.fixture(scope="module")
def enc():
    return AisfxEncoder(AisfxParams(hop_length=1024))


def test_real_weights_load_and_give_the_documented_grid(enc):
    feats = enc.features(np.random.default_rng(0).random((96, 217), dtype=np.float32))
    # 217 frames padded to 224 (multiple of 8); block2 strides 4, block3 strides 8
    assert [tuple(f.shape) for f in feats] == [(128, 24, 56), (256, 12, 28)]
    assert all(torch.isfinite(f).all() for f in feats)
    assert enc.config()["weights"] == "sha256:" + SHIPPED_SHA256
    d = enc.describe()
    assert "ISMIR 2022" in d["provenance"]
    assert d["layers"][0].startswith("block2: 128 channels, one cell = 92.9 ms x 4 mel band(s)")
    lo, hi = enc.layer_grids()[0].cell_bandwidth_hz(enc.front_end)
    # HTK mel over 0-22050 Hz: 4 bands span ~140 Hz at the bottom, ~3.7 kHz at the top
    assert 100 < lo < 200 and 3000 < hi < 4500


def test_shipped_weights_give_the_reference_output():
    """Every block's output on a fixed log-mel, against tests/data/aisfx_reference.json (written
    by tests/aisfx_reference.py): statistics, per-channel means and raw values."""
    ref = json.loads(PATH.read_text())
    assert ref["weights_sha256"] == SHIPPED_SHA256
    enc = AisfxEncoder(AisfxParams(layers=LAYERS))
    assert enc.weights_id() == "sha256:" + SHIPPED_SHA256
    x = reference_input()
    assert x.shape == (96, 125) and x.dtype == np.float32
    np.testing.assert_allclose([x.mean(dtype=np.float64), x.std(dtype=np.float64)],
                               [ref["input"]["mean"], ref["input"]["std"]], rtol=1e-6)
    got = summarise(enc.features(x))
    for layer in LAYERS:
        g, r = got[layer], ref["layers"][layer]
        assert g["shape"] == r["shape"], layer
        for key in ("mean", "std", "max", "channel_mean", "values"):
            np.testing.assert_allclose(np.asarray(g[key]), np.asarray(r[key]), rtol=RTOL,
                                       atol=ATOL, err_msg=f"{layer} {key}")
        assert g["active"] == pytest.approx(r["active"], abs=1e-3), layer


def test_weights_are_pretrained_not_random(enc):
    # trained BN statistics are not the init values (mean 0, var 1)
    assert not torch.allclose(enc.net.conv_block2.bn1.running_var, torch.ones(128))
    student = enc.network(pretrained=False, seed=1)
    assert torch.allclose(student.conv_block2.bn1.running_var, torch.ones(128))
    assert student.conv_block1.conv1.weight.requires_grad
    assert not enc.net.conv_block1.conv1.weight.requires_grad
    x = torch.rand(2, 96, 64)
    torch.testing.assert_close(enc.network()(x)[0], enc.net(x)[0])


def test_chunked_features_equal_whole(enc, monkeypatch):
    x = np.random.default_rng(1).random((96, 1000), dtype=np.float32)
    whole = enc.features(x)
    monkeypatch.setattr(AisfxEncoder, "chunk_frames", 256)
    chunked = enc.features(x)
    for a, b in zip(whole, chunked, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_feature_cells_follow_the_input_in_time(enc):
    x = np.zeros((96, 400), dtype=np.float32)
    x[30:60, 200:216] = 0.8  # an event in frames 200-215
    f = enc.features(x)[0]  # block2, 4 frames per cell
    base = enc.features(np.zeros((96, 400), dtype=np.float32))[0]
    diff = (f - base).abs().sum(dim=(0, 1))
    assert 48 <= int(diff.argmax()) <= 55


def test_pickle_with_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    p = tmp_path / "checkpoint.pth"
    with open(p, "wb") as f:
        pickle.dump(Evil(), f)
    with pytest.raises(WeightsError, match="not a loadable aisfx checkpoint"):
        load_checkpoint(p)
    assert not marker.exists()


def test_registry_and_params():
    assert "aisfx" in ENCODERS
    with pytest.raises(ParameterError, match="choose from"):
        make_encoder("aisfx", {"layers": "block9"})
    with pytest.raises(ParameterError, match="unknown encoder"):
        make_encoder("wav2vec")
    with pytest.raises(WeightsError, match="not found"):
        make_encoder("aisfx", {"weights": "/nonexistent/ckpt.pth"})


def test_uncached_runs_the_network_and_keeps_the_cache_for_afterwards():
    from specview.encoders.tiny import TinyEncoder

    enc = TinyEncoder()
    enc.cache_features(1 << 24)
    x = np.random.default_rng(0).normal(size=(enc.front_end.n_mels, 64)).astype(np.float32)
    first = enc.features(x)
    assert enc.features(x)[0] is first[0]  # a cache hit returns the stored tensors
    with enc.uncached():
        fresh = enc.features(x)
    assert fresh[0] is not first[0] and torch.equal(fresh[0], first[0])
    assert enc.features(x)[0] is first[0]  # the cache is back, with its entry
