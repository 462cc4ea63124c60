"""The bad-input suite for outputs: an ``--out`` that is an input, a folder where a file goes,
a file in the way, a read-only folder, a full disk, a demo folder holding the user's edits, a
run that fails half-way, the temporary files of killed writes.

Each refusal is one line (``specview: error: ...``, exit status 2), never a traceback, and
every file that was there before is byte-identical afterwards (no new file is left either).
Models are fitted once per module with the tiny seeded encoder (``--encoder tiny``) on
half-second clips; demo datasets are shrunk to three one-second clips.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from badinput_harness import assert_refused, assert_unchanged, snapshot
from fsutil import fill, read_only, small_disk  # noqa: F401 - fixtures

from specview import fileio

SR = 16000
pytestmark = pytest.mark.usefixtures("one_thread", "tiny_cli")

FAST = ("--no-figures", "--no-faithfulness")


def hum(seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * SR))) / SR
    x = 0.02 * rng.standard_normal(len(t))
    for h in range(1, 8):
        x += 0.05 / h * np.sin(2 * np.pi * 110 * h * t + rng.uniform(0, 2 * np.pi))
    return x.astype(np.float32)


def wav(path: Path, seed: int = 0, seconds: float = 0.5) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), hum(seconds, seed), SR, subtype="PCM_16")
    return path


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def orphan(folder: Path, target: str, suffix: str, pid: int) -> Path:
    p = folder / f".{target}.{pid}-{fileio._host_tag()}0badcafe.tmp{suffix}"
    p.write_bytes(b"half a file")
    return p


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def new_process(monkeypatch):
    """Forget this process's orphan scans, as the next ``specview`` command would start."""
    monkeypatch.setattr(fileio.orphans, "_last_clean", {})


@pytest.fixture(scope="module")
def template(tmp_path_factory, tiny_cli, one_thread) -> Path:
    """Inputs every case starts from: a model, recordings, a dataset, things in the way."""
    from specview.pipeline import fit

    root = tmp_path_factory.mktemp("template")
    for i in range(3):
        wav(root / "train.safetensors" / f"clip{i}.wav", seed=10 + i)  # a folder of that name
    fit(root / "train.safetensors", method="patchcore", encoder="tiny").save(
        root / "m.safetensors")
    wav(root / "rec.wav", seed=1)
    wav(root / "clips" / "a.wav", seed=2)
    wav(root / "clips" / "b.wav", seed=3)
    for i in range(3):
        wav(root / "ds" / "train" / f"clip{i}.wav", seed=20 + i)
    wav(root / "ds" / "test" / "normal_0.wav", seed=30)
    sf.write(str(root / "ds" / "test" / "anomaly_0.wav"), hum(0.5, 31) + 0.2 * hum(0.5, 32), SR,
             subtype="PCM_16")
    (root / "plain").write_text("a file, not a folder\n")
    (root / "dir.safetensors").mkdir()
    (root / "dir.wav").mkdir()
    return root


@pytest.fixture
def case(tmp_path, template) -> Path:
    c = tmp_path / "case"
    shutil.copytree(template, c, symlinks=True)
    (c / "link.wav").symlink_to("rec.wav")
    os.link(c / "rec.wav", c / "hard.wav")
    return c


def _args(argv, c: Path, **places) -> list[str]:
    return [a.format(c=c, **places) for a in argv]


# -- refused before any work -------------------------------------------------------------------

M, REC = "{c}/m.safetensors", "{c}/rec.wav"

REFUSED = [
    # --out is an input
    ("play-out-is-the-recording", ["play", REC, "--band", "100", "200", "--out", REC],
     r"--out .*rec\.wav: is the input file .*rec\.wav; writing there would overwrite the input"),
    ("play-out-is-a-symlink-to-it", ["play", REC, "--out", "{c}/link.wav"],
     r"link\.wav: is the input file .*rec\.wav"),
    ("play-out-is-a-hard-link-to-it", ["play", REC, "--out", "{c}/hard.wav"],
     r"hard\.wav: is the input file"),
    ("play-out-is-it-by-another-path", ["play", REC, "--out", "{c}/clips/../rec.wav"],
     r"is the input file"),
    ("play-with-model-out-is-the-recording",
     ["play", REC, "--model", M, "--anomaly-only", "--out", REC], r"is the input file"),
    ("score-out-is-the-input-folder", ["score", M, "{c}/clips", "--out", "{c}/clips"],
     r"--out .*clips: is the input folder"),
    ("score-out-is-the-input-file", ["score", M, REC, "--out", REC], r"is the input file"),
    ("score-out-is-the-model", ["score", M, REC, "--out", M], r"is the input file .*m\.safetens"),
    ("evaluate-out-is-the-dataset", ["evaluate", M, "{c}/ds", "--out", "{c}/ds", *FAST],
     r"--out .*ds: is the input folder"),
    ("evaluate-out-is-the-model", ["evaluate", M, "{c}/ds", "--out", M, *FAST],
     r"is the input file"),
    ("compare-out-is-the-dataset", ["compare", "{c}/ds", "--methods", "patchcore", "--encoders",
                                    "tiny", "--out", "{c}/ds", *FAST], r"is the input folder"),
    ("fit-out-is-the-training-folder",
     ["fit", "{c}/train.safetensors", "--encoder", "tiny", "--out", "{c}/train.safetensors"],
     r"train\.safetensors: is the input folder"),
    ("build-envmix-out-is-an-input",
     ["build-envmix", "--urbansound8k", "{c}/clips", "--esc50", "{c}/ds", "--background",
      "engine_idling", "--out", "{c}/clips"], r"is the input folder"),
    # a folder where a file goes, a file where a folder goes, a file in the way
    ("fit-out-is-a-folder", ["fit", "{c}/clips", "--encoder", "tiny", "--out",
                             "{c}/dir.safetensors"], r"dir\.safetensors: is a folder"),
    ("play-out-is-a-folder", ["play", REC, "--out", "{c}/dir.wav"], r"dir\.wav: is a folder"),
    ("fit-out-under-a-file", ["fit", "{c}/clips", "--encoder", "tiny", "--out",
                              "{c}/plain/m.safetensors"], r"plain is a file, not a folder"),
    ("play-out-under-a-file", ["play", REC, "--out", "{c}/plain/x.wav"],
     r"plain is a file, not a folder"),
    ("score-out-is-a-file", ["score", M, REC, "--out", "{c}/plain"],
     r"plain: exists and is not a folder"),
    ("score-out-under-a-file", ["score", M, REC, "--out", "{c}/plain/out"],
     r"plain is a file, not a folder"),
    ("evaluate-out-is-a-file", ["evaluate", M, "{c}/ds", "--out", "{c}/plain", *FAST],
     r"exists and is not a folder"),
    ("evaluate-out-under-a-file", ["evaluate", M, "{c}/ds", "--out", "{c}/plain/r", *FAST],
     r"plain is a file, not a folder"),
    ("compare-out-is-a-file", ["compare", "{c}/ds", "--methods", "patchcore", "--encoders",
                               "tiny", "--out", "{c}/plain", *FAST], r"exists and is not a fold"),
    ("compare-out-under-a-file", ["compare", "{c}/ds", "--methods", "patchcore", "--encoders",
                                  "tiny", "--out", "{c}/plain/c", *FAST],
     r"plain is a file, not a folder"),
    ("demo-data-into-a-file", ["demo-data", "{c}/plain", "--machines", "fan"],
     r"plain: exists and is not a folder"),
    ("demo-data-under-a-file", ["demo-data", "{c}/plain/demo", "--machines", "fan"],
     r"plain is a file, not a folder"),
    ("score-maps-folder-is-a-file", ["score", M, REC, "--out", "{c}/blocked"],
     r"blocked/maps/rec\.npz: could not write the file \(.*blocked/maps is a file, not a folder"
     r"\); nothing of this run was put in place"),
]


@pytest.mark.parametrize("argv,pattern", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_bad_outputs_are_refused(argv, pattern, cli, case):
    (case / "blocked").mkdir()
    (case / "blocked" / "maps").write_text("not a folder")
    before = snapshot(case)
    o = cli(*_args(argv, case))
    assert_refused(o, pattern)
    assert_unchanged(before, snapshot(case))


# -- read-only folders -------------------------------------------------------------------------

READ_ONLY = [
    ("score", ["score", M, REC, "--out", "{ro}/out"]),
    ("fit", ["fit", "{c}/clips", "--encoder", "tiny", "--out", "{ro}/m.safetensors"]),
    ("play", ["play", REC, "--out", "{ro}/x.wav"]),
    ("evaluate", ["evaluate", M, "{c}/ds", "--out", "{ro}/report", *FAST]),
    ("compare", ["compare", "{c}/ds", "--methods", "patchcore", "--encoders", "tiny", "--out",
                 "{ro}/cmp", *FAST]),
    ("demo-data", ["demo-data", "{ro}/demo", "--machines", "fan"]),
]


@pytest.mark.parametrize("argv", [c[1] for c in READ_ONLY], ids=[c[0] for c in READ_ONLY])
def test_read_only_output_folder_is_refused_before_any_work(argv, cli, case, read_only):  # noqa: F811
    ro, freeze = read_only
    (ro / "out").mkdir()
    (ro / "out" / "scores.csv").write_text("file,score\nold.wav,1.5\n")
    shutil.copy(case / "m.safetensors", ro / "m.safetensors")
    (ro / "x.wav").write_bytes((case / "rec.wav").read_bytes())
    freeze()
    before = snapshot(case), snapshot(ro)
    o = cli(*_args(argv, case, ro=ro))
    assert_refused(o, r"cannot write in .*\((Read-only file system|Permission denied)\); "
                      r"nothing was done; choose a folder you can write to")
    assert_unchanged(before[0], snapshot(case))
    assert_unchanged(before[1], snapshot(ro))


# -- a full disk -------------------------------------------------------------------------------


def _prepare_full_disk(cli, case: Path, disk: Path, what: str) -> None:
    """Earlier results of ``what`` on the small disk, then fill it."""
    if what == "score":
        assert cli("score", case / "m.safetensors", case / "clips", "--out", disk / "out").rc == 0
    elif what == "evaluate":
        assert cli("evaluate", case / "m.safetensors", case / "ds", "--out", disk / "report",
                   *FAST).rc == 0
    elif what == "fit":
        shutil.copy(case / "m.safetensors", disk / "m.safetensors")
    elif what == "play":
        shutil.copy(case / "rec.wav", disk / "x.wav")
    fill(disk)


FULL = [
    ("score-rerun", "score", ["score", M, "{c}/clips", "--out", "{d}/out"],
     r"out/maps/a\.npz: could not write the file \(No space left on device\); nothing of this "
     r"run was put in place: the previous files are unchanged; free some space"),
    ("evaluate-rerun", "evaluate", ["evaluate", M, "{c}/ds", "--out", "{d}/report", *FAST],
     r"report/maps/\w+\.npz: could not write the file \(No space left on device\); nothing of "
     r"this run"),
    ("fit-over-a-model", "fit", ["fit", "{c}/clips", "--encoder", "tiny", "--out",
                                 "{d}/m.safetensors"],
     r"m\.safetensors: could not write the file \(No space left on device\); the previous "
     r"file, if any, is unchanged"),
    ("play-over-a-wav", "play", ["play", REC, "--speed", "0.5", "--out", "{d}/x.wav"],
     r"x\.wav: could not write the file \(No space left on device\)"),
    ("compare", "compare", ["compare", "{c}/ds", "--methods", "patchcore", "--encoders", "tiny",
                            "--out", "{d}/cmp", *FAST],
     r"model\.safetensors: could not write the file \(No space left on device\); nothing of "
     r"this run was put in place"),
    ("demo-data", "demo-data", ["demo-data", "{d}/demo", "--machines", "fan"],
     r"README\.txt: could not write the file \(No space left on device\)"),
]


@pytest.mark.parametrize("what,argv,pattern", [c[1:] for c in FULL], ids=[c[0] for c in FULL])
def test_full_disk_leaves_earlier_results_intact(what, argv, pattern, cli, case, small_disk,  # noqa: F811
                                                  small_demo):
    _prepare_full_disk(cli, case, small_disk, what)
    before = snapshot(case), snapshot(small_disk)
    o = cli(*_args(argv, case, d=small_disk))
    assert_refused(o, pattern)
    assert_unchanged(before[0], snapshot(case))
    assert_unchanged(before[1], snapshot(small_disk))  # no partial .npz, no temporary file


# -- a run that fails half-way -----------------------------------------------------------------


@pytest.fixture
def scored(cli, case) -> Path:
    """``case/out``: the results of an earlier ``score`` of ``clips/``."""
    assert cli("score", case / "m.safetensors", case / "clips", "--out", case / "out").rc == 0
    assert files(case / "out") == ["maps/a.npz", "maps/b.npz", "scores.csv"]
    return case / "out"


def test_unreadable_clip_in_a_rerun_keeps_the_previous_scores(cli, case, scored):
    shutil.copytree(case / "clips", case / "more")
    (case / "more" / "c.wav").write_text("field notes, not a recording\n")
    before = snapshot(case)
    o = cli("score", case / "m.safetensors", case / "more", "--out", scored)
    assert_refused(o, r"c\.wav")
    assert_unchanged(before, snapshot(case))


def _fail_on_second_clip(monkeypatch, exc: BaseException) -> None:
    from specview.pipeline import Model

    real, calls = Model.score_file, []

    def score_file(self, path, **kw):
        calls.append(path)
        if len(calls) == 2:
            raise exc
        return real(self, path, **kw)

    monkeypatch.setattr(Model, "score_file", score_file)


def test_failure_after_the_first_map_leaves_no_partial_output(cli, case, scored, monkeypatch):
    from specview.errors import AudioError

    (case / "clips" / "c.wav").write_bytes((case / "rec.wav").read_bytes())
    before = snapshot(case)
    _fail_on_second_clip(monkeypatch, AudioError("b.wav: the disk holding it went away"))
    o = cli("score", case / "m.safetensors", case / "clips", "--out", scored)
    assert_refused(o, r"b\.wav: the disk holding it went away")
    assert_unchanged(before, snapshot(case))


def test_ctrl_c_half_way_leaves_the_previous_scores(cli, case, scored, monkeypatch):
    before = snapshot(case)
    _fail_on_second_clip(monkeypatch, KeyboardInterrupt())
    o = cli("score", case / "m.safetensors", case / "clips", "--out", scored)
    assert o.rc == 130 and o.err_lines == ["specview: interrupted"]
    assert_unchanged(before, snapshot(case))


def test_evaluate_failing_while_writing_keeps_the_previous_report(cli, case, monkeypatch):
    from specview import scoring

    out = case / "report"
    assert cli("evaluate", case / "m.safetensors", case / "ds", "--out", out, *FAST).rc == 0
    before = snapshot(case)
    real, n = np.savez_compressed, []

    def savez(file, **arrays):
        n.append(file)
        if len(n) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(file, **arrays)

    monkeypatch.setattr(scoring.np, "savez_compressed", savez)
    o = cli("evaluate", case / "m.safetensors", case / "ds", "--out", out, *FAST)
    assert_refused(o, r"report/maps/.*\.npz: could not write the file \(No space left on device\)")
    assert_unchanged(before, snapshot(case))


# -- temporary files of killed writes ----------------------------------------------------------


def test_score_removes_orphans_of_killed_writes_and_nothing_else(cli, case, scored,
                                                                  new_process):
    dead = dead_pid()
    orphans = [orphan(scored, "scores.csv", ".csv", dead),
               orphan(scored / "maps", "a.npz", ".npz", dead),
               orphan(scored / "maps", "b.npz", ".npz", dead)]
    mine = {scored / ".notes.tmp": b"mine", scored / "maps" / "results.tmp": b"also mine",
            scored / "maps" / ".a.npz.bak": b"a backup"}
    for p, data in mine.items():
        p.write_bytes(data)
    assert cli("score", case / "m.safetensors", case / "clips", "--out", scored).rc == 0
    assert not any(p.exists() for p in orphans)
    assert all(p.read_bytes() == data for p, data in mine.items())
    assert files(scored) == sorted(["maps/a.npz", "maps/b.npz", "scores.csv", ".notes.tmp",
                                    "maps/results.tmp", "maps/.a.npz.bak"])


def test_fit_removes_old_temporary_files_of_earlier_versions(cli, case):
    old = case / ".m.safetensors.k2x_9ab0.tmp"  # tempfile.mkstemp name, specview 0.1
    recent = case / ".m.safetensors.q7r_2cd1.tmp"  # maybe a write in progress: kept
    for p in (old, recent):
        p.write_bytes(b"partial model")
    t = os.stat(old).st_mtime - fileio.LEGACY_SECONDS - 60
    os.utime(old, (t, t))
    o = cli("fit", case / "clips", "--encoder", "tiny", "--out", case / "m.safetensors")
    assert o.rc == 0, o.err
    assert not old.exists() and recent.exists()


# -- what a successful write keeps -------------------------------------------------------------


def test_play_writes_through_a_symlink(cli, case):
    (case / "elsewhere").mkdir()
    (case / "elsewhere" / "real.wav").write_bytes(b"previous render")
    (case / "out.wav").symlink_to(case / "elsewhere" / "real.wav")
    assert cli("play", case / "rec.wav", "--band", "100", "2000", "--out", case / "out.wav").rc == 0
    assert (case / "out.wav").is_symlink()
    info = sf.info(str(case / "elsewhere" / "real.wav"))
    assert (info.format, info.subtype, info.samplerate) == ("WAV", "FLOAT", SR)
    assert sorted(os.listdir(case / "elsewhere")) == ["real.wav"]


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600)])
def test_new_outputs_get_the_umask(cli, case, mask, mode):
    old = os.umask(mask)
    try:
        assert cli("play", case / "rec.wav", "--out", case / "new.wav").rc == 0
        assert cli("fit", case / "clips", "--encoder", "tiny", "--out", case / "n.safetensors").rc == 0
        assert cli("score", case / "n.safetensors", case / "clips", "--out", case / "o").rc == 0
    finally:
        os.umask(old)
    for p in (case / "new.wav", case / "n.safetensors", case / "o" / "scores.csv",
              case / "o" / "maps" / "a.npz"):
        assert stat.S_IMODE(os.stat(p).st_mode) == mode, p


def test_rewritten_outputs_keep_their_mode(cli, case, scored):
    os.chmod(scored / "scores.csv", 0o640)
    os.chmod(case / "m.safetensors", 0o600)
    assert cli("score", case / "m.safetensors", case / "clips", "--out", scored).rc == 0
    assert cli("fit", case / "clips", "--encoder", "tiny", "--out", case / "m.safetensors").rc == 0
    assert stat.S_IMODE(os.stat(scored / "scores.csv").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(case / "m.safetensors").st_mode) == 0o600


# -- demo-data never deletes the user's edits --------------------------------------------------


@pytest.fixture
def small_demo(monkeypatch):
    """``demo-data`` writes three one-second clips per machine (for speed)."""
    from specview import demo

    defaults = dict(demo.make_demo_dataset.__kwdefaults__)
    defaults.update(n_train=1, n_test_normal=1, n_test_anomalous=1, duration=1.0, sr=16000)
    monkeypatch.setattr(demo.make_demo_dataset, "__kwdefaults__", defaults)


@pytest.fixture
def demo_tree(cli, tmp_path, small_demo) -> Path:
    root = tmp_path / "demo"
    assert cli("demo-data", root, "--machines", "fan", "pump").rc == 0
    return root


def _edit_sidecar(root: Path) -> None:
    p = next((root / "fan" / "test").glob("*.selections.txt"))
    p.write_text(p.read_text(encoding="utf-8").rstrip("\n") + " (checked by ear)\n",
                 encoding="utf-8")


def _add_file(root: Path) -> None:
    (root / "fan" / "test" / "my-notes.txt").write_text("clip 3 rattles\n")


def _legacy(root: Path) -> None:
    (root / "fan" / fileio.MANIFEST_NAME).unlink()


def _edit_clip(root: Path) -> None:
    p = root / "pump" / "train" / "normal_000.wav"
    sf.write(str(p), hum(1.0, 99), SR)


DEMO_REFUSED = [
    ("edited-sidecar", _edit_sidecar,
     r"fan: folder is not empty and is not an untouched demo dataset \(changed since it was "
     r"generated: test/anomaly_\w+.*selections\.txt\); .*pass --force"),
    ("added-file", _add_file, r"not written by specview: test/my-notes\.txt"),
    ("earlier-specview-tree", _legacy, r"demo dataset of an earlier specview, which kept no list"),
    ("edited-clip-of-the-second-machine", _edit_clip,
     r"pump: .*changed since it was generated: train/normal_000\.wav"),
]


@pytest.mark.parametrize("edit,pattern", [c[1:] for c in DEMO_REFUSED],
                         ids=[c[0] for c in DEMO_REFUSED])
def test_demo_data_refuses_a_folder_holding_edits(edit, pattern, cli, demo_tree):
    edit(demo_tree)
    before = snapshot(demo_tree)
    o = cli("demo-data", demo_tree, "--machines", "fan", "pump", "--seed", "4")
    assert_refused(o, pattern)
    assert_unchanged(before, snapshot(demo_tree))  # not even the untouched machine changed


def test_demo_data_refuses_a_foreign_folder(cli, tmp_path, small_demo):
    (tmp_path / "d" / "fan").mkdir(parents=True)
    (tmp_path / "d" / "fan" / "thesis.tex").write_text("\\chapter{Fans}\n")
    before = snapshot(tmp_path / "d")
    o = cli("demo-data", tmp_path / "d", "--machines", "fan")
    assert_refused(o, r"fan: folder is not empty and holds no specview demo dataset; .*--force")
    assert_unchanged(before, snapshot(tmp_path / "d"))


def test_demo_data_regenerates_an_untouched_tree_and_clears_killed_writes(cli, demo_tree,
                                                                          new_process):
    stale = orphan(demo_tree / "fan" / "train", "normal_000.wav", ".wav", dead_pid())
    assert "Seed: 0" in (demo_tree / "fan" / "README.txt").read_text()
    assert cli("demo-data", demo_tree, "--machines", "fan", "--seed", "4").rc == 0
    assert "Seed: 4" in (demo_tree / "fan" / "README.txt").read_text()
    assert not stale.exists()


def test_demo_data_force_overwrites_the_demo_files_only(cli, demo_tree):
    _edit_sidecar(demo_tree)
    _add_file(demo_tree)
    assert cli("demo-data", demo_tree, "--machines", "fan", "--force").rc == 0
    sidecar = next((demo_tree / "fan" / "test").glob("*.selections.txt"))
    assert "checked by ear" not in sidecar.read_text()
    assert (demo_tree / "fan" / "test" / "my-notes.txt").read_text() == "clip 3 rattles\n"


def test_cached_demo_keeps_edits_and_restores_what_is_missing(demo_tree, small_demo):
    from specview.demo import make_demo_dataset

    fan = demo_tree / "fan"
    _edit_sidecar(demo_tree)
    edited = {p: p.read_bytes() for p in (fan / "test").glob("*.selections.txt")}
    (fan / "train" / "normal_000.wav").unlink()
    _add_file(demo_tree)
    make_demo_dataset(fan, machine="fan", keep_changed=True)  # what ensure_demo does
    assert all(p.read_bytes() == data for p, data in edited.items())
    assert (fan / "train" / "normal_000.wav").is_file()
    assert (fan / "test" / "my-notes.txt").is_file()
    # the manifest still knows what was generated: the edit is recognised as one
    changed, foreign = fileio.tree_changes(fan, fileio.read_manifest(fan))
    assert [c.rsplit("/", 1)[1] for c in changed] == [p.name for p in edited]
    assert foreign == ["test/my-notes.txt"]
