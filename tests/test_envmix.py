"""EnvMix builds from tiny fake UrbanSound8K and ESC-50 copies."""

import csv

import numpy as np
import pytest
import soundfile as sf

from specview.annotations import read_raven, sidecar_path
from specview.datasets import load_dataset, read_meta_csv
from specview.demo import event_to_background_db
from specview.envmix import EDGE_S, build_envmix, urbansound8k_classes
from specview.errors import Cancelled, DatasetError, ParameterError

SR = 22050  # output rate of the builds (the fake sources use 16000, 22050 and 44100 Hz)
CLIP = 1.0
N_USABLE, N_SHORT = 16, 2
US8K_HEADER = ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"]
ESC_HEADER = ["filename", "fold", "target", "category", "esc10", "src_file", "take"]
ESC_SR = 44100


def _write_csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _fake_us8k(root):
    rng = np.random.default_rng(7)
    rows = []
    rates = (16000, 22050, 44100)
    for i in range(N_USABLE + N_SHORT):
        sr = rates[i % 3]
        seconds = 0.5 if i >= N_USABLE else CLIP + 0.1 * (i % 2)
        t = np.arange(int(seconds * sr)) / sr
        hum = 0.05 * np.sin(2 * np.pi * 120 * t) + 0.02 * rng.standard_normal(len(t))
        data = np.stack([hum, 0.5 * hum], axis=1) if i == 1 else hum  # one stereo slice
        name = f"{100 + i}-0-0-{i}.wav"
        fold = 1 + i % 10
        (root / "audio" / f"fold{fold}").mkdir(parents=True, exist_ok=True)
        sf.write(str(root / "audio" / f"fold{fold}" / name), data.astype(np.float32), sr)
        rows.append([name, 100 + i, 0.0, seconds, 1, fold, 0, "air_conditioner"])
    for i in range(2):  # another class, never used as background here
        name = f"900-3-0-{i}.wav"
        sf.write(str(root / "audio" / "fold1" / name), np.zeros(16000, np.float32), 16000)
        rows.append([name, 900, 0.0, 1.0, 1, 1, 3, "dog_bark"])
    _write_csv(root / "metadata" / "UrbanSound8K.csv", US8K_HEADER, rows)
    return root


def _fake_esc50(root):
    """A tone burst (siren), a long noise burst (dog), a silent file (clock_tick)."""
    rng = np.random.default_rng(8)
    n = 5 * ESC_SR
    t = np.arange(n) / ESC_SR
    floor = 1e-6 * rng.standard_normal(n)  # -120 dB: far below the 40 dB trimming threshold
    tone = floor.copy()
    on = (t >= 1.0) & (t < 1.3)
    tone[on] += 0.5 * np.sin(2 * np.pi * 2000 * t[on])
    noise = floor.copy()
    on = (t >= 0.5) & (t < 3.5)
    noise[on] += 0.3 * rng.standard_normal(int(on.sum()))
    (root / "audio").mkdir(parents=True)
    clips = [("1-100-A-42.wav", "siren", tone), ("1-200-A-0.wav", "dog", noise),
             ("1-300-A-38.wav", "clock_tick", np.zeros(n))]
    rows = []
    for name, cat, x in clips:
        sf.write(str(root / "audio" / name), x.astype(np.float32), ESC_SR)
        rows.append([name, 1, 0, cat, "False", name[2:5], "A"])
    _write_csv(root / "meta" / "esc50.csv", ESC_HEADER, rows)
    return root


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    base = tmp_path_factory.mktemp("corpora")
    return _fake_us8k(base / "UrbanSound8K"), _fake_esc50(base / "ESC-50-master")


def _build(inputs, out, **kw):
    kw = {"seed": 0, "clip_seconds": CLIP, "sr": SR, "train_fraction": 0.5, **kw}
    return build_envmix(inputs[0], inputs[1], "air_conditioner", out, **kw)


@pytest.fixture(scope="module")
def built(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("envmix") / "ac"
    return _build(inputs, out), out


def _read(p):
    x, sr = sf.read(str(p), dtype="float32")
    assert sr == SR and x.ndim == 1
    return x


def test_split_sizes_and_names(built):
    summary, out = built
    assert (summary.n_train, summary.n_test_normal, summary.n_test_anomalous) == (8, 4, 4)
    assert summary.n_short_skipped == N_SHORT and summary.root == out
    train = sorted(p.name for p in (out / "train").glob("*.wav"))
    assert train == [f"normal_{i:04d}.wav" for i in range(8)]
    test = sorted(p.name for p in (out / "test").glob("*.wav"))
    assert [n for n in test if n.startswith("normal_")] == [f"normal_{i:04d}.wav" for i in range(4)]
    anomalous = [n for n in test if n.startswith("anomaly_")]
    assert len(anomalous) == 4
    # Levels cycle through levels_db; silent events are passed over.
    assert [n.split("_")[-1] for n in sorted(anomalous)] == ["+6dB.wav", "0dB.wav", "-6dB.wav",
                                                              "+6dB.wav"]
    assert not any("clock_tick" in n for n in anomalous)
    # Train and test come from disjoint slices; short slices are left out.
    train_src = {r["source_background"] for r in read_meta_csv(out / "train" / "meta.csv").values()}
    test_src = {r["source_background"] for r in read_meta_csv(out / "test" / "meta.csv").values()}
    assert len(train_src) == 8 and len(test_src) == 8 and not train_src & test_src
    assert not any(s.endswith(("-16.wav", "-17.wav")) for s in train_src | test_src)
    for p in [*(out / "train").glob("*.wav"), *(out / "test").rglob("*.wav")]:
        info = sf.info(str(p))
        assert (info.subtype, info.channels, info.frames) == ("FLOAT", 1, int(CLIP * SR))


def test_meta_csv_columns(built):
    _, out = built
    with open(out / "test" / "meta.csv", encoding="utf-8") as f:
        header = f.readline().strip().split(",")
    assert header[:11] == ["file", "label", "kind", "level_db", "t0", "t1", "f0", "f1",
                           "background_class", "source_background", "source_event"]


def test_mix_level_and_box(built):
    _, out = built
    meta = read_meta_csv(out / "test" / "meta.csv")
    anomalous = {k: v for k, v in meta.items() if v["label"] == 1}
    assert len(anomalous) == 4
    for name, row in anomalous.items():
        stem = name[:-4]
        mix = _read(out / "test" / name)
        anom = _read(out / "test" / "sources" / f"{stem}.anomaly.wav")
        bg = _read(out / "test" / "sources" / f"{stem}.background.wav")
        np.testing.assert_array_equal(mix, anom + bg)
        target = float(name.split("_")[-1][:-6])
        t0, t1 = row["t0"], row["t1"]
        measured = event_to_background_db(anom, bg, SR, t0, t1)
        assert abs(measured - target) < 0.01 and abs(measured - row["level_db"]) < 1e-3
        (box,) = read_raven(sidecar_path(out / "test" / name))
        assert (box.t0, box.t1, box.f0, box.f1, box.label) == (t0, t1, row["f0"], row["f1"],
                                                              row["kind"])
        # The event lies inside its box, and the box lies inside the clip, clear of its ends.
        nz = np.flatnonzero(anom)
        assert round(t0 * SR) <= nz[0] and nz[-1] < round(t1 * SR)
        assert t0 >= EDGE_S - 1 / SR and t1 <= CLIP - EDGE_S + 1 / SR  # the room allows
        # The frequency band holds most of the event's energy.
        power = np.abs(np.fft.rfft(anom.astype(np.float64))) ** 2
        freqs = np.fft.rfftfreq(len(anom), 1 / SR)
        inside = power[(freqs >= box.f0) & (freqs <= box.f1)].sum() / power.sum()
        assert inside > 0.9
        assert row["background_class"] == "air_conditioner"
        assert row["source_event"].startswith("audio/1-") and row["source_background"]
        if row["kind"] == "siren":  # the 0.3 s tone, trimmed to its active span
            assert 0.298 <= t1 - t0 <= 0.305 and box.f0 < 2000 < box.f1 and box.f1 - box.f0 < 300
            assert 0.998 <= row["source_event_t0"] <= 1.001
        else:  # the 3 s noise burst keeps its loudest max_event_seconds = CLIP / 2
            assert row["kind"] == "dog" and t1 - t0 == pytest.approx(CLIP / 2, abs=1e-9)


def test_read_back_by_load_dataset(built):
    _, out = built
    ds = load_dataset(out)
    assert ds.name == "" and len(ds.train) == 8 and len(ds.test) == 8
    assert sorted(c.label for c in ds.test) == [0] * 4 + [1] * 4
    for c in ds.test:
        assert c.meta["background_class"] == "air_conditioner"
        if c.label == 1:
            assert c.anomaly_source.is_file() and c.background_source.is_file()
            (box,) = c.boxes()
            assert (box.t0, box.t1) == (c.meta["t0"], c.meta["t1"])
            assert isinstance(c.meta["level_db"], float)
            assert c.meta["kind"] in ("siren", "dog")
        else:
            assert c.boxes() == [] and c.anomaly_source is None and "level_db" not in c.meta


def test_same_seed_same_bytes_and_rebuild_in_place(inputs, built, tmp_path):
    _, first = built
    again = tmp_path / "again"
    _build(inputs, again)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (first / rel).read_bytes() == (again / rel).read_bytes(), rel
    # An earlier build is replaced whole by a new one.
    _build(inputs, again, seed=5, levels_db=(3.0,))
    names = sorted(p.name for p in (again / "test").glob("anomaly_*.wav"))
    assert names and all(n.endswith("_+3dB.wav") for n in names)
    assert "seed 5" in (again / "README.txt").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_output_folder_rules(inputs, built, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "mine.txt").write_text("keep me")
    with pytest.raises(ParameterError, match="not empty and holds no EnvMix build"):
        _build(inputs, tmp_path / "busy")
    assert (tmp_path / "busy" / "mine.txt").read_text() == "keep me"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ParameterError, match="is not a folder"):
        _build(inputs, tmp_path / "file")
    prev = tmp_path / "prev"
    _build(inputs, prev)
    (prev / "test" / "scores.csv").write_text("x")
    with pytest.raises(ParameterError, match=r"plus other files .*scores.csv"):
        _build(inputs, prev)
    (tmp_path / "empty").mkdir()
    assert _build(inputs, tmp_path / "empty").n_train == 8


def test_cancel_leaves_nothing_behind(inputs, tmp_path):
    def cancel(done, total):
        if done == 5:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        _build(inputs, tmp_path / "out", progress=cancel)
    assert list(tmp_path.iterdir()) == []
    calls = []
    _build(inputs, tmp_path / "out", progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 16) for i in range(1, 17)]


def test_clear_errors_for_inputs(inputs, tmp_path):
    us8k, esc = inputs
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match="no such folder; pass the UrbanSound8K folder"):
        build_envmix(tmp_path / "nope", esc, "air_conditioner", out)
    with pytest.raises(DatasetError, match=r"expected .*metadata/UrbanSound8K.csv"):
        build_envmix(esc, esc, "air_conditioner", out)
    with pytest.raises(DatasetError, match=r"expected .*meta/esc50.csv"):
        build_envmix(us8k, us8k, "air_conditioner", out, clip_seconds=CLIP)
    with pytest.raises(DatasetError, match="unknown UrbanSound8K background class 'fan'.*"
                                           "air_conditioner, dog_bark"):
        build_envmix(us8k, esc, "fan", out)
    with pytest.raises(DatasetError, match="unknown ESC-50 event class.*'cat'.*clock_tick, dog"):
        _build(inputs, out, event_classes=["cat"])
    with pytest.raises(DatasetError, match=r"has 0 slice\(s\) of at least 4 s"):
        build_envmix(us8k, esc, "air_conditioner", out)  # the fake slices are ~1 s
    assert urbansound8k_classes(us8k) == ["air_conditioner", "dog_bark"]
    with pytest.raises(ParameterError, match="train_fraction"):
        _build(inputs, out, train_fraction=1.0)
    with pytest.raises(ParameterError, match="levels_db"):
        _build(inputs, out, levels_db=())
    with pytest.raises(ParameterError, match="seed"):
        _build(inputs, out, seed=-1)
    assert not out.exists()


def test_errors_for_broken_copies(tmp_path):
    us8k = _fake_us8k(tmp_path / "us")
    esc = _fake_esc50(tmp_path / "esc")
    (us8k / "audio" / "fold3" / "102-0-0-2.wav").unlink()
    missing = r"expected .*fold3/102-0-0-2.wav \(listed in .*line 4\)"
    with pytest.raises(DatasetError, match=missing):
        build_envmix(us8k, esc, "air_conditioner", tmp_path / "out", clip_seconds=CLIP)
    _write_csv(us8k / "metadata" / "UrbanSound8K.csv", ["slice_file_name", "fold"], [["a", 1]])
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['class'\]"):
        build_envmix(us8k, esc, "air_conditioner", tmp_path / "out")
    us8k2 = _fake_us8k(tmp_path / "us2")
    (esc / "audio" / "1-100-A-42.wav").unlink()
    with pytest.raises(DatasetError, match=r"ESC-50: expected .*1-100-A-42.wav \(listed in"):
        build_envmix(us8k2, esc, "air_conditioner", tmp_path / "out", clip_seconds=CLIP,
                     sr=SR, event_classes=["siren"])
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_builds_the_same_dataset(inputs, tmp_path, capsys):
    from specview.cli import main

    us8k, esc50 = inputs
    out = tmp_path / "cli"
    assert main(["build-envmix", "--urbansound8k", str(us8k), "--esc50", str(esc50),
                 "--background", "air_conditioner", "--out", str(out), "--seed", "0",
                 "--clip-seconds", str(CLIP), "--sr", str(SR)]) == 0
    assert "training clips" in capsys.readouterr().out
    ds = load_dataset(out)
    assert ds.train and sum(c.label == 1 for c in ds.test) == len(ds.test) // 2
    assert main(["build-envmix", "--urbansound8k", str(tmp_path / "nope"), "--esc50", str(esc50),
                 "--background", "air_conditioner", "--out", str(tmp_path / "o2")]) == 2
    assert "nope" in capsys.readouterr().err
