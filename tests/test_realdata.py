"""bench/realdata.py: the real-recordings benchmark builder, on tiny synthetic takes.

No network and no apt: the takes and events are written here, and the builder's functions are
called directly (the script is loaded from its file).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from specview.datasets import load_dataset
from specview.demo import event_to_background_db

_PATH = Path(__file__).resolve().parents[1] / "bench" / "realdata.py"


def _load():
    spec = importlib.util.spec_from_file_location("specview_bench_realdata", _PATH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is made
    spec.loader.exec_module(mod)
    return mod


rd = _load()

SR = 16000
NATIVE = 8000  # the takes' own rate: events get band-limited to 4 kHz
PARAMS = rd.Params(seed=3, sr=SR, clip_seconds=2.0, n_train=6, n_test_normal=3, n_per_level=3,
                   levels_db=(6.0, 0.0, -6.0), stream_seconds=40.0, max_event_seconds=0.8)


def _raw_takes(seed: int = 0) -> list[tuple[str, np.ndarray, int]]:
    """Three 3 s 'machine' takes at 8 kHz: low harmonics (small sample steps, so a butt join
    would click) plus a little noise, with 0.2 s fades at the ends that trimming must drop."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(3):
        t = np.arange(int(3.0 * NATIVE)) / NATIVE
        f0 = 90.0 + 17.0 * i
        x = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3))
        x = 0.3 * x + 0.01 * rng.standard_normal(len(t)) + 0.05 * (i - 1)  # a DC offset too
        fade = int(0.2 * NATIVE)
        x[:fade] *= np.linspace(0, 1, fade) ** 3
        x[-fade:] *= np.linspace(1, 0, fade) ** 3
        out.append((f"take{i}", x, NATIVE))
    return out


def _events() -> list:
    rng = np.random.default_rng(1)
    t = np.arange(int(1.2 * SR)) / SR
    knock = np.zeros_like(t)
    knock[800:] = rng.standard_normal(len(t) - 800) * np.exp(-t[: len(t) - 800] * 12)
    beep = np.where((t > 0.1) & (t < 0.7), np.sin(2 * np.pi * 1500 * t), 0.0)
    wide = rng.standard_normal(int(0.5 * SR))  # full band: must come out band-limited
    return [
        rd.EventSource("knock", "knock.wav", rd.to_rate(knock, SR, SR, bandlimit=NATIVE)),
        rd.EventSource("beep", "beep.wav", rd.to_rate(beep, SR, SR, bandlimit=NATIVE)),
        rd.EventSource("hiss", "hiss.wav", rd.to_rate(wide, SR, SR, bandlimit=NATIVE)),
    ]


def _build(folder: Path, params=PARAMS):
    takes = rd.prepare_takes(_raw_takes(), params.sr)
    return rd.write_dataset(folder, "testmachine", takes, _events(), params,
                            description="synthetic")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rd") / "ds"
    return folder, _build(folder)


def _anomalous(folder: Path):
    return [c for c in load_dataset(folder).test if c.label == 1]


def test_stream_has_no_seam_click():
    takes = rd.prepare_takes(_raw_takes(), SR)
    n_total = int(30 * SR)
    plan = rd.plan_stream([len(t.samples) for t in takes], n_total, SR,
                          np.random.default_rng(0))
    stream, plan = rd.render_stream([t.samples for t in takes], plan, n_total, SR)
    assert len(stream) == n_total and len(plan) > 10
    assert any(s.reverse for s in plan) and not all(s.reverse for s in plan)
    own = max(float(np.max(np.abs(np.diff(t.samples)))) for t in takes)
    steps = np.abs(np.diff(stream))
    xf = int(round(rd.XFADE_S * SR))
    assert xf >= 0.3 * SR
    for s in plan[1:]:
        if s.start >= n_total - 1:
            continue
        # where the incoming excerpt starts and where the outgoing one has ended
        for i in (s.start, min(s.start + xf, n_total - 1)):
            assert steps[i - 1] <= own * 1.01, (i, steps[i - 1], own)
        # inside the crossfade: cos*da + sin*db, at most sqrt(2) times the own steps
        assert steps[s.start : s.start + xf].max() <= own * np.sqrt(2) * 1.01
    assert steps.max() <= own * np.sqrt(2) * 1.01
    # the check would catch a butt join: the takes' ends are far apart in value
    butt = np.concatenate([takes[0].samples, takes[1].samples[len(takes[1].samples) // 3 :]])
    assert np.abs(np.diff(butt)).max() > 1.5 * own
    # level: every take has the same RMS and the crossfades keep it, also where a take joins
    # itself (periodic, so the two sides are correlated: a plain equal-power fade would swell
    # or cancel there)
    w = SR // 20
    mids = [s.start + xf // 2 - w // 2 for s in plan[1:] if s.start + xf < n_total]
    level = [10 * np.log10(np.mean(stream[i : i + w] ** 2)) for i in mids]
    assert np.max(np.abs(np.array(level) - rd.STREAM_RMS_DB)) < 1.0
    assert max(s.rho for s in plan) > 0.5  # some joins were of alike sides


def test_takes_are_trimmed_zero_mean_and_normalised():
    raw = _raw_takes()
    for take, (_, x, _) in zip(rd.prepare_takes(raw, SR), raw, strict=True):
        assert abs(np.mean(take.samples)) < 1e-9
        assert np.sqrt(np.mean(take.samples**2)) == pytest.approx(
            10 ** (rd.STREAM_RMS_DB / 20), rel=1e-9)
        # the fades are gone: the end frames are within STEADY_DB of the median frame
        assert len(take.samples) < len(x) * SR / NATIVE - 0.2 * SR
        frames = take.samples[: len(take.samples) // 800 * 800].reshape(-1, 800)
        level = 10 * np.log10(np.mean(frames**2, axis=1))
        assert min(level[0], level[-1]) > np.median(level) - rd.STEADY_DB - 1.0


def test_mix_is_background_plus_anomaly_exactly(built):
    folder, _ = built
    clips = _anomalous(folder)
    assert len(clips) == PARAMS.n_per_level * len(PARAMS.levels_db)
    for c in clips:
        mix, sr = sf.read(c.path, dtype="float32")
        a, _ = sf.read(c.anomaly_source, dtype="float32")
        b, _ = sf.read(c.background_source, dtype="float32")
        assert sr == SR and mix.dtype == np.float32 and len(mix) == 2 * SR
        assert np.array_equal(mix, a + b)
        assert np.max(np.abs(mix)) < 1.0


def test_level_matches_nominal(built):
    folder, _ = built
    seen = set()
    for c in _anomalous(folder):
        (box,) = c.boxes()
        nominal = float(c.path.stem.rsplit("_", 1)[1].removesuffix("dB"))
        a, _ = sf.read(c.anomaly_source, dtype="float32")
        b, _ = sf.read(c.background_source, dtype="float32")
        measured = event_to_background_db(a, b, SR, box.t0, box.t1)
        assert abs(measured - nominal) < 0.05
        assert abs(c.meta["level_db"] - nominal) < 0.05
        seen.add(nominal)
    assert seen == {6.0, 0.0, -6.0}


def test_box_holds_the_event(built):
    folder, _ = built
    kinds = set()
    for c in _anomalous(folder):
        (box,) = c.boxes()
        a, _ = sf.read(c.anomaly_source, dtype="float64")
        nz = np.flatnonzero(a)
        assert round(box.t0 * SR) <= nz[0] and nz[-1] < round(box.t1 * SR)
        assert box.t0 >= rd.EDGE_S - 1e-9 and box.t1 <= 2.0 - rd.EDGE_S + 1e-9
        assert box.t1 - box.t0 <= PARAMS.max_event_seconds + 1e-9
        assert box.label == c.meta["kind"] and box.label in c.path.name
        span = a[round(box.t0 * SR) : round(box.t1 * SR)]
        power = np.abs(np.fft.rfft(span)) ** 2
        freqs = np.fft.rfftfreq(len(span), 1 / SR)
        inside = power[(freqs >= box.f0) & (freqs <= box.f1)].sum() / power.sum()
        assert inside > 0.9
        # band-limited to the takes' 4 kHz, like the background
        assert power[freqs > NATIVE / 2 + 200].sum() / power.sum() < 1e-3
        kinds.add(box.label)
    assert kinds == {"knock", "beep", "hiss"}


def test_train_and_test_come_from_disjoint_halves(built):
    folder, r = built
    assert r.split == round(rd.TRAIN_SHARE * PARAMS.stream_seconds * SR)
    assert len(r.train_cuts) == PARAMS.n_train
    assert len(r.test_cuts) == PARAMS.n_test_normal + 3 * PARAMS.n_per_level
    assert all(0 <= c.start < c.stop <= r.split for c in r.train_cuts)
    assert all(r.split <= c.start < c.stop <= PARAMS.stream_seconds * SR for c in r.test_cuts)
    for c in (*r.train_cuts, *r.test_cuts):
        assert abs(c.speed - 1) <= rd.SPEED and abs(c.gain_db) <= rd.GAIN_DB
    d = load_dataset(folder)
    assert len(d.train) == PARAMS.n_train and len(d.test) == len(r.test_cuts)
    train = [sf.read(p, dtype="float32")[0] for p in d.train]
    for c in d.test:
        x = sf.read(c.background_source or c.path, dtype="float32")[0]
        assert not any(np.array_equal(x, y) for y in train)


def test_layout_and_meta(built):
    folder, _ = built
    for rel in ("README.txt", "BUILD.json", "SOURCES.json", "stream.csv", "train/meta.csv",
                "test/meta.csv", ".specview-files.json"):
        assert (folder / rel).is_file(), rel
    header = (folder / "test" / "meta.csv").read_text().splitlines()[0].split(",")
    from specview.envmix import _TEST_COLUMNS
    assert tuple(header) == _TEST_COLUMNS
    names = sorted(p.name for p in (folder / "test").glob("anomaly_*.wav"))
    assert names[0] == "anomaly_0000_knock_+6dB.wav"
    assert {n.rsplit("_", 1)[1] for n in names} == {"+6dB.wav", "0dB.wav", "-6dB.wav"}
    assert rd.is_complete(folder, PARAMS)
    assert not rd.is_complete(folder, rd.Params(**{**PARAMS.__dict__, "seed": 4}))


def test_same_seed_same_bytes(tmp_path, built):
    folder, _ = built
    again = tmp_path / "again"
    _build(again)
    files = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (folder / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = tmp_path / "other"
    _build(other, rd.Params(**{**PARAMS.__dict__, "seed": 4}))
    rel = Path("train/normal_0000.wav")
    assert (folder / rel).read_bytes() != (other / rel).read_bytes()


def test_a_changed_build_is_not_complete(tmp_path):
    folder = tmp_path / "ds"
    _build(folder, rd.Params(**{**PARAMS.__dict__, "n_train": 2, "n_per_level": 1}))
    params = rd.Params(**{**PARAMS.__dict__, "n_train": 2, "n_per_level": 1})
    assert rd.is_complete(folder, params)
    (folder / "train" / "normal_0001.wav").write_bytes(b"RIFF")
    assert not rd.is_complete(folder, params)


def test_complete_cache_is_left_alone(tmp_path, monkeypatch):
    params = rd.Params(**{**PARAMS.__dict__, "n_train": 2, "n_per_level": 1})
    spec = rd.MACHINES[0]
    _build(tmp_path / spec.name, params)

    def no_fetch(*_a, **_k):
        raise AssertionError("a complete cache must not fetch anything")

    monkeypatch.setattr(rd, "fetch_sources", no_fetch)
    assert rd.build_all(tmp_path, params, machines=[spec]) == []


def test_forbidden_packages_are_refused(tmp_path):
    for package in ("openttd-opensfx", "stormbaancoureur-data", "bucklespring-data"):
        with pytest.raises(rd.RealDataError, match="independent check"):
            rd.fetch_deb(package, tmp_path)
    assert not any(tmp_path.iterdir())


def test_machine_specs():
    assert len(rd.MACHINES) >= 3
    kinds = {e.kind for m in rd.MACHINES for e in m.events}
    assert len(kinds) >= 5
    for m in rd.MACHINES:
        for s in (*m.takes, *(e.source for e in m.events)):
            assert s.package not in rd.FORBIDDEN_PACKAGES
        assert not {e.source for e in m.events} & set(m.takes)


def test_licence_lookup():
    text = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2004 A Person
License: GPL-2+

Files: data/data.zip
Copyright: Someone
License: GPL-2+

Files: data/data.zip/sounds/gear.wav
       data/data.zip/sounds/bang.wav
Copyright: kougloff
           Iwan Gabovitch
License-Grant:
 free
License: CC0

License: CC0
 the text
"""
    assert rd.licence_of(text, "data/data.zip/sounds/gear.wav").licence == "CC0"
    assert rd.licence_of(text, "data/data.zip/sounds/gear.wav").copyright == \
        "kougloff; Iwan Gabovitch"
    engine = rd.licence_of(text, "data/data.zip/sounds/engine.wav")
    assert engine.licence == "GPL-2+" and engine.copyright == "Someone"
    assert rd.licence_of(text, "src/x.cpp").copyright == "2004 A Person"


def test_training_clips_share_no_stream_sample(built):
    _, r = built
    cuts = sorted(r.train_cuts, key=lambda c: c.start)
    assert all(a.stop <= b.start for a, b in zip(cuts, cuts[1:], strict=False))
    slots = rd.train_slots(r.split, PARAMS.n_train)
    assert slots[0][0] == 0 and slots[-1][1] == r.split
    assert all(lo <= c.start < c.stop <= hi for c, (lo, hi) in zip(r.train_cuts, slots, strict=True))


def test_a_stream_too_short_for_disjoint_training_clips_is_refused():
    with pytest.raises(rd.RealDataError, match="share no sample"):
        rd.Params(**{**PARAMS.__dict__, "n_train": 12}).check()
