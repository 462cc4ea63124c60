import numpy as np
import pytest

from specview.annotations import sidecar_path, write_raven
from specview.audio import write_audio
from specview.datasets import input_files, label_from_name, load_dataset, training_files
from specview.errors import DatasetError
from specview.types import Box


def _touch(p, sr=8000):
    write_audio(p, np.zeros(sr // 10), sr)


def test_layout_is_read(tmp_path):
    for n in ("normal_0.wav", "normal_1.flac"):
        _touch(tmp_path / "train" / n)
    (tmp_path / "train" / "notes.txt").write_text("x")
    for n in ("normal_id_00_0.wav", "anomaly_id_00_1.wav", "mystery.wav"):
        _touch(tmp_path / "test" / n)
    write_raven(sidecar_path(tmp_path / "test" / "anomaly_id_00_1.wav"), [Box(0, 0.05, 10, 20, "x")])
    _touch(tmp_path / "test" / "sources" / "anomaly_id_00_1.anomaly.wav")
    _touch(tmp_path / "test" / "sources" / "anomaly_id_00_1.background.wav")
    ds = load_dataset(tmp_path)
    assert [p.name for p in ds.train] == ["normal_0.wav", "normal_1.flac"]
    by = {c.path.name: c for c in ds.test}
    assert set(by) == {"normal_id_00_0.wav", "anomaly_id_00_1.wav", "mystery.wav"}
    a = by["anomaly_id_00_1.wav"]
    assert a.label == 1 and a.boxes() == [Box(0, 0.05, 10, 20, "x")]
    assert a.anomaly_source.name == "anomaly_id_00_1.anomaly.wav"
    assert a.background_source.name == "anomaly_id_00_1.background.wav"
    assert by["normal_id_00_0.wav"].label == 0 and by["normal_id_00_0.wav"].boxes() == []
    assert by["mystery.wav"].label is None
    assert training_files(tmp_path) == ds.train
    assert [p.name for p in input_files([tmp_path])] == sorted(by)


@pytest.mark.parametrize("name,label", [("anomaly_01.wav", 1), ("abnormal_01.wav", 1),
                                        ("normal_01.wav", 0), ("x.wav", None)])
def test_labels_from_names(name, label):
    assert label_from_name(name) == label


def test_empty_or_missing_folders_are_clear(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        training_files(tmp_path / "nope")
    (tmp_path / "train").mkdir()
    with pytest.raises(DatasetError, match="train: no audio files"):
        training_files(tmp_path)


def test_new_fields_keep_old_constructors_working(tmp_path):
    # The GUI builds these positionally / by keyword without the new fields.
    from specview.datasets import Dataset, TestClip

    clip = TestClip(tmp_path / "a.wav", None, None)
    assert clip.meta == {} and clip.boxes() == []
    assert hash(clip) == hash(TestClip(tmp_path / "a.wav", None, None))
    ds = Dataset(root=tmp_path, train=[], test=[clip])
    assert ds.name == "" and ds.channel is None and ds.meta == {}


def test_plain_dataset_reads_as_before(tmp_path):
    from specview.datasets import dataset_subsets, load_datasets

    _touch(tmp_path / "train" / "normal_0.wav")
    _touch(tmp_path / "test" / "anomaly_0.wav")
    assert dataset_subsets(tmp_path) == [""]
    (ds,) = load_datasets(tmp_path)
    assert ds.name == "" and ds.channel is None and ds.root == tmp_path
    assert [(c.path.name, c.label, c.meta) for c in ds.test] == [("anomaly_0.wav", 1, {})]
    assert training_files(tmp_path, subset="") == ds.train
    assert input_files([tmp_path], subset="") == [c.path for c in ds.test]


def test_one_spelling_of_the_channel_choice():
    """``"default"`` is the only word for "the context's own channel" (issue 13: None, an
    index, "auto", "fitted" and "default" were translated in every layer)."""
    import pytest

    from specview.datasets import AUTO
    from specview.errors import ParameterError
    from specview.types import DEFAULT_CHANNEL, check_channel

    assert AUTO == DEFAULT_CHANNEL == "default"
    for ok in (None, 0, 3, "default"):
        check_channel(ok)
    for bad in ("auto", "fitted", -1, True, 1.0, "0"):
        with pytest.raises(ParameterError, match="'default'"):
            check_channel(bad)
