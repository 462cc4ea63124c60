"""The dataset-layout writer shared by the demo generator and the EnvMix builder."""

import numpy as np
import pytest
import soundfile as sf

from specview import fileio, layout
from specview.annotations import read_raven, sidecar_path
from specview.datasets import load_dataset
from specview.errors import ParameterError
from specview.types import Box

SR = 16000


def test_names_and_level_tags():
    assert [layout.level_tag(x) for x in (6.0, 0.0, -0.0, -6.0, -12.5)] == [
        "+6", "0", "0", "-6", "-12.5"
    ]
    assert layout.index_width(0, 3) == 3 and layout.index_width(1000, 3) == 3
    assert layout.index_width(1001, 3) == 4 and layout.index_width(12, 4) == 4
    assert layout.anomaly_stem(7, 3, "dog", 6.0) == "anomaly_007_dog_+6dB"
    assert layout.csv_text(("a", "b"), [(1, "x,y")]) == 'a,b\n1,"x,y"\n'
    assert layout.name_list(list("abcde")) == "a, b, c and 2 more"


def test_float_wav_is_plain_and_readable(tmp_path):
    x = np.linspace(-1.5, 1.5, 101, dtype=np.float32)  # floats keep values past full scale
    data = layout.float_wav_bytes("x.wav", x, SR)
    assert data[:4] == b"RIFF" and b"PEAK" not in data
    path = tmp_path / "x.wav"
    layout.write_float_wav(path, x, SR)
    y, sr = sf.read(str(path), dtype="float32")
    assert sr == SR and np.array_equal(y, x)
    assert layout.float_wav_bytes("x.wav", x, SR) == path.read_bytes()


def _write_one(w: layout.DatasetWriter) -> None:
    rng = np.random.default_rng(0)
    bg = 0.1 * rng.standard_normal(SR)
    anomaly = np.zeros(SR)
    anomaly[4000:6000] = 0.2 * rng.standard_normal(2000)
    w.readme("test layout\n")
    w.train_clip("normal_000.wav", bg)
    w.tick()
    w.test_clip("normal_000.wav", bg)
    w.tick()
    box = Box(0.25, 0.375, 100.0, 4000.0, "noise")
    w.anomalous_clip("anomaly_000_noise_+6dB", bg + anomaly, anomaly.astype(np.float32),
                     bg.astype(np.float32), box)
    w.tick()
    w.meta("test", ("file", "label"), [("normal_000.wav", 0), ("anomaly_000_noise_+6dB.wav", 1)])
    w.finish()


@pytest.mark.parametrize("staged", [False, True])
def test_writer_writes_the_layout_and_its_manifest(tmp_path, staged):
    root = tmp_path / "ds"
    seen = []
    if staged:
        with fileio.staged() as outputs:
            w = layout.DatasetWriter(root, SR, outputs=outputs, total=3,
                                     progress=lambda d, t: seen.append((d, t)))
            _write_one(w)
            assert not (root / "README.txt").exists()  # nothing in place before the run ends
    else:
        root.mkdir()
        w = layout.DatasetWriter(root, SR, clips="float", total=3,
                                 progress=lambda d, t: seen.append((d, t)))
        _write_one(w)
    assert seen == [(1, 3), (2, 3), (3, 3)]
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == sorted([
        fileio.MANIFEST_NAME, "README.txt", "train/normal_000.wav", "test/normal_000.wav",
        "test/anomaly_000_noise_+6dB.wav", "test/anomaly_000_noise_+6dB.Table.1.selections.txt",
        "test/sources/anomaly_000_noise_+6dB.anomaly.wav",
        "test/sources/anomaly_000_noise_+6dB.background.wav", "test/meta.csv",
    ])
    manifest = fileio.read_manifest(root)
    assert manifest == w.written and fileio.tree_changes(root, manifest) == ([], [])
    clip = root / "test" / "anomaly_000_noise_+6dB.wav"
    assert sf.info(str(clip)).subtype == ("PCM_16" if staged else "FLOAT")
    assert sf.info(str(root / "test/sources/anomaly_000_noise_+6dB.anomaly.wav")).subtype == "FLOAT"
    assert [b.label for b in read_raven(sidecar_path(clip))] == ["noise"]
    ds = load_dataset(root)
    assert len(ds.train) == 1 and len(ds.test) == 2


def test_keep_changed_leaves_the_users_edit(tmp_path):
    root = tmp_path / "ds"
    with fileio.staged() as outputs:
        _write_one(layout.DatasetWriter(root, SR, outputs=outputs))
    old = fileio.read_manifest(root)
    (root / "test" / "meta.csv").write_text("edited\n")
    with fileio.staged() as outputs:
        w = layout.DatasetWriter(root, SR, outputs=outputs, old=old, keep_changed=True)
        _write_one(w)
    assert (root / "test" / "meta.csv").read_text() == "edited\n"
    assert fileio.read_manifest(root) == old  # what was generated, the same again


def test_existing_folder(tmp_path):
    assert layout.existing_folder(tmp_path / "new", "marker") is None
    (tmp_path / "empty").mkdir()
    assert layout.existing_folder(tmp_path / "empty", "marker") is None
    (tmp_path / "file").write_text("x")
    with pytest.raises(ParameterError, match="exists and is not a folder"):
        layout.existing_folder(tmp_path / "file", "marker")
    d = tmp_path / "ours"
    d.mkdir()
    (d / "README.txt").write_text("marker line\n")
    found = layout.existing_folder(d, "marker")
    assert found.marked and found.manifest is None
    assert found.changes() == ([], ["README.txt"])
    assert not layout.existing_folder(d, "other").marked


def test_build_in_temp_swaps_in_whole_or_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with layout.build_in_temp(out) as tmp:
        (tmp / "a.txt").write_text("1")
    assert (out / "a.txt").read_text() == "1"
    with pytest.raises(RuntimeError), layout.build_in_temp(out) as tmp:
        (tmp / "b.txt").write_text("2")
        raise RuntimeError("cancelled")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]

    def refuse(path):
        raise ParameterError(f"{path}: changed meanwhile")

    with pytest.raises(ParameterError), layout.build_in_temp(out, recheck=refuse) as tmp:
        (tmp / "c.txt").write_text("3")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
