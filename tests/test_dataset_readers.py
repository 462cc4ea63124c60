"""MIMII, DCASE 2020 Task 2 and the generic layout's meta.csv, on tiny fake trees."""

import numpy as np
import pytest
import soundfile as sf

from specview.annotations import sidecar_path, write_raven
from specview.audio import load_audio
from specview.datasets import (
    dataset_subsets,
    input_files,
    is_dataset,
    load_dataset,
    load_datasets,
    read_meta_csv,
    training_files,
)
from specview.errors import DatasetError, ParameterError
from specview.types import Box

SR = 16000


def _wav(path, channels=1, value=0.0, n=SR // 20):
    """A short WAV; channel c holds ``value + 0.1 * c`` plus a tiny ramp (so channels differ)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(0.0, 0.01, n)[:, None]
    data = value + 0.1 * np.arange(channels)[None, :] + ramp
    sf.write(str(path), data.astype(np.float32), SR, subtype="FLOAT")


# ---------------------------------------------------------------------------------------------
# MIMII
# ---------------------------------------------------------------------------------------------

N_NORMAL, N_ABNORMAL = 5, 2


def _mimii_id(folder):
    for i in range(N_NORMAL):
        _wav(folder / "normal" / f"{i:08d}.wav", channels=8)
    for i in range(N_ABNORMAL):
        _wav(folder / "abnormal" / f"{i:08d}.wav", channels=8, value=0.3)


@pytest.fixture(scope="module")
def mimii(tmp_path_factory):
    top = tmp_path_factory.mktemp("mimii")
    for snr in ("6", "0", "-6"):
        for mid in ("id_00", "id_02"):
            _mimii_id(top / f"{snr}_dB_fan" / "fan" / mid)
    _mimii_id(top / "6_dB_pump" / "pump" / "id_00")
    (top / "README.txt").write_text("not audio")
    return top


ALL_MIMII = [
    "-6_dB_fan/id_00", "-6_dB_fan/id_02", "0_dB_fan/id_00", "0_dB_fan/id_02",
    "6_dB_fan/id_00", "6_dB_fan/id_02", "6_dB_pump/id_00",
]


def test_mimii_subsets_at_every_level(mimii):
    assert dataset_subsets(mimii) == ALL_MIMII
    assert dataset_subsets(mimii / "6_dB_fan") == ["6_dB_fan/id_00", "6_dB_fan/id_02"]
    assert dataset_subsets(mimii / "6_dB_fan" / "fan") == ["6_dB_fan/id_00", "6_dB_fan/id_02"]
    assert dataset_subsets(mimii / "-6_dB_fan" / "fan" / "id_02") == ["-6_dB_fan/id_02"]
    for root in (mimii, mimii / "0_dB_fan", mimii / "0_dB_fan" / "fan",
                 mimii / "0_dB_fan" / "fan" / "id_00"):
        assert is_dataset(root)
    assert [d.name for d in load_datasets(mimii)] == ALL_MIMII


def test_mimii_split_labels_and_level(mimii):
    ds = load_dataset(mimii, subset="-6_dB_fan/id_02")
    folder = mimii / "-6_dB_fan" / "fan" / "id_02"
    assert ds.name == "-6_dB_fan/id_02" and ds.root == folder
    assert ds.meta == {"machine": "fan", "machine_id": "id_02", "level_db": -6.0}
    normal = sorted((folder / "normal").glob("*.wav"))
    abnormal = sorted((folder / "abnormal").glob("*.wav"))
    # Balanced test: every abnormal clip and as many normal ones, the first by name.
    assert [c.path for c in ds.test] == normal[:N_ABNORMAL] + abnormal
    assert [c.label for c in ds.test] == [0] * N_ABNORMAL + [1] * N_ABNORMAL
    assert ds.train == normal[N_ABNORMAL:]
    assert not set(ds.train) & {c.path for c in ds.test}
    for c in ds.test:
        assert c.meta == {"machine": "fan", "machine_id": "id_02", "level_db": -6.0}
        assert c.boxes() == []
    assert training_files(mimii, subset="-6_dB_fan/id_02") == ds.train
    assert input_files([folder]) == [c.path for c in ds.test]
    levels = {d.name: d.meta["level_db"] for d in load_datasets(mimii)}
    assert levels["6_dB_fan/id_00"] == 6.0 and levels["0_dB_fan/id_02"] == 0.0


def test_mimii_subset_by_tail_and_ambiguity(mimii):
    assert load_dataset(mimii / "0_dB_fan", subset="id_02").name == "0_dB_fan/id_02"
    with pytest.raises(DatasetError, match="ambiguous.*-6_dB_fan/id_00"):
        load_dataset(mimii, subset="id_00")
    with pytest.raises(DatasetError, match="no subset 'id_07'.*'6_dB_fan/id_00'"):
        load_dataset(mimii / "6_dB_fan", subset="id_07")


def test_ambiguous_root_lists_subsets(mimii):
    with pytest.raises(DatasetError, match=r"7 subsets: -6_dB_fan/id_00, .*--subset") as e:
        load_dataset(mimii)
    assert all(n in str(e.value) for n in ALL_MIMII)
    with pytest.raises(DatasetError, match="--subset"):
        training_files(mimii / "6_dB_fan")
    with pytest.raises(DatasetError, match="--subset"):
        input_files([mimii / "6_dB_fan" / "fan"])


def test_mimii_channel_selection(mimii):
    root = mimii / "6_dB_fan" / "fan" / "id_00"
    first = load_dataset(root)
    assert first.channel == 0  # the MIMII baselines' default
    mean = load_dataset(root, channel=None)
    third = load_dataset(root, channel=2)
    assert mean.channel is None and third.channel == 2
    p = first.test[0].path
    a0 = load_audio(p, channel=first.channel).samples
    am = load_audio(p, channel=mean.channel).samples
    a2 = load_audio(p, channel=third.channel).samples
    # Channel c holds 0.1 * c + ramp: the mean of 8 channels is 0.35 above channel 0.
    np.testing.assert_allclose(am - a0, 0.35, atol=1e-6)
    np.testing.assert_allclose(a2 - a0, 0.2, atol=1e-6)
    with pytest.raises(DatasetError, match="channel 8 requested.*8 channel.*0 to 7"):
        load_dataset(root, channel=8)
    for bad in (-1, 1.5, "left", True):
        with pytest.raises(ParameterError, match="channel must be"):
            load_dataset(root, channel=bad)


def test_mimii_without_snr_folder_and_short_normal(tmp_path):
    folder = tmp_path / "fan" / "id_04"
    _wav(folder / "normal" / "00000000.wav", channels=8)
    for i in range(3):
        _wav(folder / "abnormal" / f"{i:08d}.wav", channels=8)
    ds = load_dataset(tmp_path / "fan")
    assert ds.name == "fan/id_04" and "level_db" not in ds.meta
    # Fewer normal than abnormal clips: the one normal clip goes to test, none to train.
    assert [c.label for c in ds.test] == [0, 1, 1, 1] and ds.train == []
    with pytest.raises(DatasetError, match="normal.*subset fan/id_04.*no audio files"):
        training_files(folder)


# ---------------------------------------------------------------------------------------------
# DCASE 2020 Task 2
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dcase(tmp_path_factory):
    dev = tmp_path_factory.mktemp("dev_data")
    for machine, ids in (("fan", ("id_00", "id_02")), ("ToyCar", ("id_01",))):
        for mid in ids:
            for i in range(3):
                _wav(dev / machine / "train" / f"normal_{mid}_{i:08d}.wav")
            for i in range(2):
                _wav(dev / machine / "test" / f"normal_{mid}_{i:08d}.wav")
                _wav(dev / machine / "test" / f"anomaly_{mid}_{i:08d}.wav")
    return dev


def test_dcase_subsets(dcase):
    assert dataset_subsets(dcase) == ["ToyCar/id_01", "fan/id_00", "fan/id_02"]
    assert dataset_subsets(dcase / "fan") == ["fan/id_00", "fan/id_02"]
    assert is_dataset(dcase) and is_dataset(dcase / "fan")
    with pytest.raises(DatasetError, match="2 subsets: fan/id_00, fan/id_02.*--subset"):
        load_dataset(dcase / "fan")


def test_dcase_split_follows_folders_and_ids(dcase):
    ds = load_dataset(dcase / "fan", subset="id_02")
    assert ds.name == "fan/id_02" and ds.root == dcase / "fan" and ds.channel is None
    assert ds.meta == {"machine": "fan", "machine_id": "id_02"}
    assert [p.name for p in ds.train] == [f"normal_id_02_{i:08d}.wav" for i in range(3)]
    assert [(c.path.name, c.label) for c in ds.test] == [
        ("anomaly_id_02_00000000.wav", 1), ("anomaly_id_02_00000001.wav", 1),
        ("normal_id_02_00000000.wav", 0), ("normal_id_02_00000001.wav", 0),
    ]
    assert all(c.meta == {"machine": "fan", "machine_id": "id_02"} for c in ds.test)
    assert training_files(dcase, subset="fan/id_02") == ds.train
    assert input_files([dcase / "ToyCar"]) == [c.path for c in load_dataset(dcase / "ToyCar").test]
    assert len(load_datasets(dcase)) == 3


def test_dcase_eval_names_without_label(tmp_path):
    _wav(tmp_path / "valve" / "test" / "id_01_00000000.wav")
    _wav(tmp_path / "valve" / "train" / "normal_id_01_00000000.wav")
    ds = load_dataset(tmp_path / "valve")
    assert ds.name == "valve/id_01" and [c.label for c in ds.test] == [None]


# ---------------------------------------------------------------------------------------------
# Generic layout: meta.csv
# ---------------------------------------------------------------------------------------------

META_HEADER = "file,label,kind,level_db,t0,t1,f0,f1,machine\n"


def _generic(root, meta_text):
    _wav(root / "train" / "normal_000.wav")
    for n in ("normal_000.wav", "normal_001.wav", "anomaly_000_whine_-6dB.wav"):
        _wav(root / "test" / n)
    if meta_text is not None:
        (root / "test" / "meta.csv").write_text(meta_text, encoding="utf-8")
    return root


def test_generic_is_one_unnamed_subset(tmp_path):
    root = _generic(tmp_path, None)
    assert dataset_subsets(root) == [""]
    ds = load_dataset(root, subset="")
    assert ds.name == "" and ds.channel is None and ds.meta == {}
    assert all(c.meta == {} for c in ds.test)
    assert load_dataset(root, channel=0).channel == 0
    with pytest.raises(DatasetError, match="no subset 'fan'"):
        load_dataset(root, subset="fan")


def test_meta_csv_is_attached_by_file_name(tmp_path):
    root = _generic(
        tmp_path,
        META_HEADER
        + "normal_000.wav,0,,,,,,,fan\n"
        + "anomaly_000_whine_-6dB.wav,1,whine,-5.9987,1.25,2.5,2000,2400.5,fan\n"
        + "gone.wav,0,,,,,,,fan\n",  # rows of removed clips are allowed
    )
    by = {c.path.name: c for c in load_dataset(root).test}
    assert by["normal_000.wav"].meta == {"label": 0, "machine": "fan"}
    assert by["anomaly_000_whine_-6dB.wav"].meta == {
        "label": 1, "kind": "whine", "level_db": -5.9987, "t0": 1.25, "t1": 2.5,
        "f0": 2000.0, "f1": 2400.5, "machine": "fan",
    }
    assert by["normal_001.wav"].meta == {}


def test_meta_csv_label_fills_unlabelled_names(tmp_path):
    _wav(tmp_path / "test" / "clip_a.wav")
    (tmp_path / "test" / "meta.csv").write_text("file,label\nclip_a.wav,1\n")
    assert load_dataset(tmp_path).test[0].label == 1


@pytest.mark.parametrize(
    "text,match",
    [
        (META_HEADER + "normal_000.wav,0,,,,,,fan\n",
         r"meta.csv, line 2: 8 cell\(s\) but the header has 9"),
        (META_HEADER + "normal_000.wav,0,,,,,,,fan\nnormal_001.wav,0,,abc,,,,,fan\n",
         r"meta.csv, line 3: column 'level_db' must be a finite number, got 'abc'"),
        (META_HEADER + "normal_000.wav,0,,nan,,,,,fan\n", r"line 2: column 'level_db'.*'nan'"),
        (META_HEADER + "normal_000.wav,yes,,,,,,,fan\n", r"line 2: label must be 0 .* got 'yes'"),
        ("name,label\nnormal_000.wav,0\n", r"meta.csv, line 1: no 'file' column"),
        ("file,kind,kind\nnormal_000.wav,a,b\n", r"line 1: empty or repeated column"),
        (META_HEADER + "normal_000.wav,0,,,,,,,fan\n\nnormal_000.wav,0,,,,,,,fan\n",
         r"line 4: 'normal_000.wav' is listed a second time"),
        (META_HEADER + ",0,,,,,,,fan\n", r"line 2: the 'file' cell is empty"),
        (META_HEADER + "normal_001.wav,1,,,,,,,fan\n", r"normal_001.wav has label 1 but its name"),
    ],
)
def test_malformed_meta_csv_is_an_error(tmp_path, text, match):
    root = _generic(tmp_path, text)
    with pytest.raises(DatasetError, match=match) as e:
        load_dataset(root)
    assert str(root / "test" / "meta.csv") in str(e.value)


def test_meta_csv_must_be_utf8(tmp_path):
    root = _generic(tmp_path, None)
    (root / "test" / "meta.csv").write_bytes(b"file,kind\nnormal_000.wav,\xff\xfe\n")
    with pytest.raises(DatasetError, match="meta.csv: cannot read"):
        load_dataset(root)


def test_demo_meta_csv_round_trips(tmp_path):
    from specview.demo import make_demo_dataset

    root = make_demo_dataset(tmp_path / "d", machine="valve", seed=1, n_train=1,
                             n_test_normal=1, n_test_anomalous=3, duration=1.0, sr=16000)
    rows = read_meta_csv(root / "test" / "meta.csv")
    ds = load_dataset(root)
    assert len(ds.test) == 4
    for clip in ds.test:
        assert clip.meta == rows[clip.path.name] and clip.meta["machine"] == "valve"
        if clip.label == 1:
            (box,) = clip.boxes()
            assert (clip.meta["t0"], clip.meta["t1"]) == (box.t0, box.t1)
            assert isinstance(clip.meta["level_db"], float)
        else:
            assert "level_db" not in clip.meta


def test_sidecars_and_sources_still_found_with_meta(tmp_path):
    root = _generic(tmp_path, META_HEADER + "anomaly_000_whine_-6dB.wav,1,whine,-6,0,0.05,1,2,x\n")
    clip_path = root / "test" / "anomaly_000_whine_-6dB.wav"
    write_raven(sidecar_path(clip_path), [Box(0, 0.05, 1, 2, "whine")])
    _wav(root / "test" / "sources" / "anomaly_000_whine_-6dB.anomaly.wav")
    (clip,) = [c for c in load_dataset(root).test if c.label == 1]
    assert clip.boxes() == [Box(0, 0.05, 1, 2, "whine")] and clip.anomaly_source is not None
    assert clip.meta["level_db"] == -6.0


def test_not_a_dataset(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert not is_dataset(tmp_path) and not is_dataset(tmp_path / "missing")
    with pytest.raises(DatasetError, match="not a dataset folder"):
        load_dataset(tmp_path)
    with pytest.raises(DatasetError, match="no such folder"):
        dataset_subsets(tmp_path / "missing")
