"""Known-answer tests of the synthetic demo dataset generator (specview.demo)."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import stft, welch

from specview import demo
from specview.datasets import load_dataset
from specview.errors import Cancelled, ParameterError

SR = 22050
DURATION = 2.5
N_ANOM = 15  # one clip per (kind, level) pairing
NAME = re.compile(r"anomaly_(\d{3})_([a-z]+)_([+-]?\d+)dB\.wav")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """One small dataset per machine type: every kind at every level."""
    root = tmp_path_factory.mktemp("demo")
    paths = demo.make_demo_data(
        root,
        seed=3,
        n_train=3,
        n_test_normal=2,
        n_test_anomalous=N_ANOM,
        duration=DURATION,
        sr=SR,
    )
    return {p.name: p for p in paths}


def _read(path: Path) -> np.ndarray:
    x, sr = sf.read(str(path), dtype="float64")
    assert sr == SR
    return x


def _meta(root: Path) -> dict[str, dict[str, str]]:
    with open(root / "test" / "meta.csv", newline="", encoding="utf-8") as f:
        return {row["file"]: row for row in csv.DictReader(f)}


def _anomalous(root: Path):
    """(clip, kind, nominal level, box, mix, background, anomaly) for each anomalous clip."""
    for clip in load_dataset(root).test:
        if clip.label != 1:
            continue
        m = NAME.fullmatch(clip.path.name)
        assert m, clip.path.name
        (box,) = clip.boxes()
        yield (
            clip,
            m.group(2),
            float(m.group(3)),
            box,
            _read(clip.path),
            _read(clip.background_source),
            _read(clip.anomaly_source),
        )


def _ebr_db(anomaly: np.ndarray, background: np.ndarray, t0: float, t1: float) -> float:
    i0, i1 = round(t0 * SR), round(t1 * SR)
    return 10 * np.log10(np.sum(anomaly[i0:i1] ** 2) / np.sum(background[i0:i1] ** 2))


def test_registry():
    assert {"fan", "pump", "valve"} <= set(demo.MACHINES)
    assert demo.ANOMALY_KINDS == ("impact", "whine", "rattle", "friction", "dropout")
    assert demo.LEVELS_DB == (6.0, 0.0, -6.0)


def test_layout_read_back_by_load_dataset(data):
    assert set(data) == set(demo.MACHINES)
    for name, root in data.items():
        assert root.name == name
        ds = load_dataset(root)
        assert [p.name for p in ds.train] == ["normal_000.wav", "normal_001.wav", "normal_002.wav"]
        normal = [c for c in ds.test if c.label == 0]
        anomalous = [c for c in ds.test if c.label == 1]
        assert len(normal) == 2 and len(anomalous) == N_ANOM and len(ds.test) == 2 + N_ANOM
        for c in normal:
            assert c.boxes_path is None and c.anomaly_source is None
        pairs = set()
        for c in anomalous:
            kind, level = NAME.fullmatch(c.path.name).group(2, 3)
            pairs.add((kind, float(level)))
            assert c.boxes_path is not None and c.boxes_path.name.endswith(
                ".Table.1.selections.txt"
            )
            assert c.anomaly_source.name == c.path.stem + ".anomaly.wav"
            assert c.background_source.name == c.path.stem + ".background.wav"
            assert sf.info(str(c.anomaly_source)).subtype == "FLOAT"
            # libsndfile's PEAK chunk holds a time stamp, which would break byte-reproducibility
            assert b"PEAK" not in c.anomaly_source.read_bytes()[:200]
            assert sf.info(str(c.background_source)).subtype == "FLOAT"
            assert sf.info(str(c.path)).subtype == "PCM_16"
            assert [b.label for b in c.boxes()] == [kind]
        # Every (kind, level) pairing appears once in 15 anomalous clips.
        assert pairs == {(k, lv) for k in demo.ANOMALY_KINDS for lv in demo.LEVELS_DB}
        for p in [*ds.train, *(c.path for c in ds.test)]:
            assert sf.info(str(p)).samplerate == SR
            assert sf.info(str(p)).frames == round(DURATION * SR)
        readme = (root / "README.txt").read_text(encoding="utf-8")
        assert "seed: 3" in readme.lower() and "EBR" in readme


def test_level_tags_in_names(data):
    names = {c.path.name for c in load_dataset(data["fan"]).test}
    assert "anomaly_000_impact_+6dB.wav" in names
    assert "anomaly_001_whine_0dB.wav" in names
    assert "anomaly_002_rattle_-6dB.wav" in names


def test_meta_csv_matches_files_and_sidecars(data):
    for name, root in data.items():
        meta = _meta(root)
        with open(root / "test" / "meta.csv", encoding="utf-8") as f:
            assert f.readline().strip() == "file,label,kind,level_db,t0,t1,f0,f1,machine"
        assert set(meta) == {c.path.name for c in load_dataset(root).test}
        for clip, kind, _, box, _, bg, anom in _anomalous(root):
            row = meta[clip.path.name]
            assert row["label"] == "1" and row["kind"] == kind and row["machine"] == name
            got = [float(row[k]) for k in ("t0", "t1", "f0", "f1")]
            assert got == [box.t0, box.t1, box.f0, box.f1]
            # level_db holds the EBR actually measured from the written sources.
            assert float(row["level_db"]) == pytest.approx(
                _ebr_db(anom, bg, box.t0, box.t1), abs=1e-3
            )
        for fname, row in meta.items():
            if fname.startswith("normal"):
                assert row["label"] == "0" and row["machine"] == name
                assert all(row[k] == "" for k in ("kind", "level_db", "t0", "t1", "f0", "f1"))


def test_background_plus_anomaly_is_the_mix(data):
    for root in data.values():
        for *_, mix, bg, anom in _anomalous(root):
            # The float sources sum to the float mix; the clip is that mix as 16-bit PCM.
            # libsndfile writes x * 32767 rounded and reads back n / 32768, so the clip differs
            # by at most half a step of rounding plus |x| < 1 step of scale.
            assert np.max(np.abs(bg + anom - mix)) <= 1.5 / 32768
            assert np.max(np.abs(anom)) > 0


def test_measured_ebr_hits_the_nominal_level(data):
    for root in data.values():
        for _, kind, nominal, box, _, bg, anom in _anomalous(root):
            ebr = _ebr_db(anom, bg, box.t0, box.t1)
            if kind == "dropout":
                # Attenuation cannot remove more than there is: capped at a full mute (<= 0 dB),
                # and the reachable -6 dB is hit.
                assert ebr <= 0.01
                if nominal < 0:
                    assert ebr == pytest.approx(nominal, abs=0.5)
                else:
                    assert ebr > -6.0
            else:
                assert ebr == pytest.approx(nominal, abs=0.5)
                # ...far better in fact: only 16-bit quantisation separates them.
                assert ebr == pytest.approx(nominal, abs=0.02)


def test_anomaly_energy_lies_in_its_box(data):
    for root in data.values():
        for clip, kind, _, box, _, _, anom in _anomalous(root):
            f, t, z = stft(anom, fs=SR, nperseg=512, noverlap=384)
            power = np.abs(z) ** 2
            inside = ((f >= box.f0) & (f <= box.f1))[:, None] & ((t >= box.t0) & (t <= box.t1))
            share = power[inside].sum() / power.sum()
            assert share >= 0.9, f"{clip.path}: only {share:.1%} of the {kind} inside {box}"


def test_anomaly_is_silent_outside_its_time_span(data):
    for root in data.values():
        for *_, box, _, _, anom in _anomalous(root):
            i0, i1 = round(box.t0 * SR), round(box.t1 * SR)
            outside = np.concatenate([anom[:i0], anom[i1:]])
            assert not np.any(outside)


def test_boxes_inside_clip_and_band(data):
    for root in data.values():
        for _, kind, _, box, *_ in _anomalous(root):
            assert 0.3 - 1e-9 <= box.t0 < box.t1 <= DURATION - 0.3 + 1e-9
            assert 0.0 <= box.f0 < box.f1 <= SR / 2
            if kind == "whine":
                assert 0.5 - 1e-9 <= box.t1 - box.t0 <= 1.5 + 1e-9
            if kind == "impact":
                assert box.t1 - box.t0 == pytest.approx(0.17, abs=1e-6)


def test_whine_is_a_narrow_tone_at_the_box_centre(data):
    for root in data.values():
        for _, kind, _, box, _, _, anom in _anomalous(root):
            if kind != "whine":
                continue
            i0, i1 = round(box.t0 * SR), round(box.t1 * SR)
            f, p = welch(anom[i0:i1], fs=SR, nperseg=4096)
            centre = (box.f0 + box.f1) / 2
            assert abs(f[np.argmax(p)] - centre) < 15
            margin = (box.f1 - box.f0) / 2
            assert margin >= max(0.05 * centre, 40.0)


def test_dropout_removes_machine_sound(data):
    for root in data.values():
        for _, kind, _, box, mix, bg, _ in _anomalous(root):
            if kind != "dropout":
                continue
            i0, i1 = round(box.t0 * SR), round(box.t1 * SR)
            assert np.sum(mix[i0:i1] ** 2) < np.sum(bg[i0:i1] ** 2)


def test_no_clipping_and_sensible_levels(data):
    for root in data.values():
        ds = load_dataset(root)
        for p in [*ds.train, *(c.path for c in ds.test)]:
            x = _read(p)
            assert np.all(np.isfinite(x))
            peak = np.max(np.abs(x))
            assert peak < 0.99, p
            if "normal" in p.name and "anomal" not in p.name:
                assert 0.2 <= peak <= 0.5, (p, peak)


def _band_levels(x: np.ndarray) -> np.ndarray:
    """Octave-band levels in dB, 31.5 Hz to 8 kHz."""
    f, p = welch(x, fs=SR, nperseg=4096)
    edges = 31.25 * 2.0 ** np.arange(10)
    return np.array([10 * np.log10(p[(f >= lo) & (f < 2 * lo)].sum()) for lo in edges[:-1]])


def test_normal_clips_vary_but_share_a_spectrum(tmp_path):
    for machine in demo.MACHINES:
        root = demo.make_demo_dataset(
            tmp_path / machine,
            machine=machine,
            seed=11,
            n_train=4,
            n_test_normal=0,
            n_test_anomalous=0,
            duration=2.0,
            sr=SR,
        )
        clips = [_read(p) for p in load_dataset(root).train]
        levels = [_band_levels(x) - _band_levels(x).max() for x in clips]
        for i in range(len(clips)):
            for j in range(i + 1, len(clips)):
                a, b = clips[i], clips[j]
                assert abs(np.corrcoef(a, b)[0, 1]) < 0.5  # different waveforms
                assert np.max(np.abs(a - b)) > 0.05
                # ...of the same machine: octave-band spectra within a few dB
                assert np.mean(np.abs(levels[i] - levels[j])) < 4.0, machine
        # Overall gain varies between clips (+-3 dB draw).
        rms = [np.sqrt(np.mean(x**2)) for x in clips]
        assert max(rms) / min(rms) > 1.01


def test_machines_sound_different(data):
    levels = {m: _band_levels(_read(load_dataset(r).train[0])) for m, r in data.items()}
    names = sorted(levels)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            da = levels[a] - levels[a].max()
            db = levels[b] - levels[b].max()
            assert np.mean(np.abs(da - db)) > 2.0, (a, b)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_same_bytes_other_seed_other_audio(tmp_path):
    kw = {
        "machine": "valve",
        "n_train": 2,
        "n_test_normal": 1,
        "n_test_anomalous": 5,
        "duration": 2.0,
        "sr": SR,
    }
    a = _tree(demo.make_demo_dataset(tmp_path / "a", seed=5, **kw))
    b = _tree(demo.make_demo_dataset(tmp_path / "b", seed=5, **kw))
    c = _tree(demo.make_demo_dataset(tmp_path / "c", seed=6, **kw))
    assert a == b
    assert a.keys() == c.keys()
    for key in a:
        if key.endswith(".wav"):
            assert a[key] != c[key], key


def test_clips_do_not_depend_on_other_group_sizes(tmp_path):
    small = demo.make_demo_dataset(
        tmp_path / "s",
        machine="fan",
        seed=2,
        n_train=1,
        n_test_normal=1,
        n_test_anomalous=1,
        duration=1.5,
        sr=SR,
    )
    big = demo.make_demo_dataset(
        tmp_path / "b",
        machine="fan",
        seed=2,
        n_train=3,
        n_test_normal=2,
        n_test_anomalous=2,
        duration=1.5,
        sr=SR,
    )
    for rel in ("train/normal_000.wav", "test/normal_000.wav", "test/anomaly_000_impact_+6dB.wav"):
        assert (small / rel).read_bytes() == (big / rel).read_bytes()


def test_machines_differ_for_the_same_seed(data):
    fan = _read(load_dataset(data["fan"]).train[0])
    pump = _read(load_dataset(data["pump"]).train[0])
    assert not np.array_equal(fan, pump)


def test_regenerating_in_place_replaces_old_files(tmp_path):
    out = tmp_path / "ds"
    demo.make_demo_dataset(
        out, machine="fan", n_train=3, n_test_normal=2, n_test_anomalous=3, duration=1.5, sr=SR
    )
    demo.make_demo_dataset(
        out, machine="fan", n_train=1, n_test_normal=1, n_test_anomalous=1, duration=1.5, sr=SR
    )
    ds = load_dataset(out)
    assert len(ds.train) == 1 and len(ds.test) == 2
    assert sorted(p.name for p in (out / "test" / "sources").iterdir()) == [
        "anomaly_000_impact_+6dB.anomaly.wav",
        "anomaly_000_impact_+6dB.background.wav",
    ]
    assert len(_meta(out)) == 2


def test_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(ParameterError, match="not empty"):
        demo.make_demo_dataset(
            tmp_path, n_train=1, n_test_normal=0, n_test_anomalous=0, duration=1.0, sr=SR
        )
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_progress_counts_every_clip_and_can_cancel(tmp_path):
    calls: list[tuple[int, int]] = []
    demo.make_demo_dataset(
        tmp_path / "p",
        n_train=2,
        n_test_normal=1,
        n_test_anomalous=2,
        duration=1.0,
        sr=SR,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls == [(i, 5) for i in range(1, 6)]

    def stop(done: int, total: int) -> None:
        if done == 2:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        demo.make_demo_dataset(tmp_path / "q", n_train=4, duration=1.0, sr=SR, progress=stop)
    # A cancelled folder is still recognised as a demo dataset and regenerates in place.
    demo.make_demo_dataset(
        tmp_path / "q", n_train=1, n_test_normal=1, n_test_anomalous=1, duration=1.0, sr=SR
    )
    assert len(load_dataset(tmp_path / "q").train) == 1


def test_make_demo_data_progress_spans_all_machines(tmp_path):
    calls: list[tuple[int, int]] = []
    paths = demo.make_demo_data(
        tmp_path,
        machines=["pump", "valve"],
        n_train=1,
        n_test_normal=1,
        n_test_anomalous=1,
        duration=1.0,
        sr=SR,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert paths == [tmp_path / "pump", tmp_path / "valve"]
    assert calls == [(i, 6) for i in range(1, 7)]
    assert _meta(tmp_path / "valve")["normal_000.wav"]["machine"] == "valve"


@pytest.mark.parametrize(
    "kw",
    [
        {"machine": "toaster"},
        {"n_train": -1},
        {"n_test_anomalous": 1.5},
        {"duration": 0.5},
        {"sr": 8000},
        {"seed": -1},
    ],
)
def test_bad_parameters(tmp_path, kw):
    with pytest.raises(ParameterError):
        demo.make_demo_dataset(tmp_path / "x", **kw)


def test_make_demo_data_rejects_unknown_machine(tmp_path):
    with pytest.raises(ParameterError, match="toaster"):
        demo.make_demo_data(tmp_path, machines=["fan", "toaster"])
    with pytest.raises(ParameterError):
        demo.make_demo_data(tmp_path, n_train="3")
    assert not any(tmp_path.iterdir())


def test_make_demo_data_takes_one_machine_name(tmp_path):
    paths = demo.make_demo_data(
        tmp_path, machines="engine", n_train=1, n_test_normal=0, n_test_anomalous=0, duration=1.0
    )
    assert paths == [tmp_path / "engine"]
    assert sf.info(str(tmp_path / "engine" / "train" / "normal_000.wav")).samplerate == 44100


def test_ebr_helper_matches_definition():
    rng = np.random.default_rng(0)
    bg = rng.standard_normal(SR)
    anom = np.zeros(SR)
    anom[1000:3000] = 2.0 * bg[1000:3000]
    assert demo.event_to_background_db(anom, bg, SR, 1000 / SR, 3000 / SR) == pytest.approx(
        20 * np.log10(2.0)
    )


def test_core_ring_imports_only():
    code = (
        "import sys, specview.demo; "
        "bad = [m for m in ('torch', 'PySide6', 'librosa') if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
