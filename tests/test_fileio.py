"""specview.fileio: atomic writes, failures that change nothing, symlinks, permissions,
orphaned temporary files, staged runs and the output checks."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fsutil import fill, small_disk  # noqa: F401 - fixture

from specview import fileio
from specview.errors import ParameterError, SpecviewError
from specview.fileio import OutputWriteError


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def umask():
    """``umask(value)`` sets the process umask for the test; the old one comes back after."""
    old = os.umask(0o022)
    os.umask(old)

    def set_(value: int) -> None:
        os.umask(value)

    yield set_
    os.umask(old)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _temp(folder: Path, target: str, pid: int, host: str | None = None, suffix: str = "",
          age: float = 0.0) -> Path:
    host = host or fileio._host_tag()
    p = folder / f".{target}.{pid}-{host}0badcafe.tmp{suffix}"
    p.write_bytes(b"partial")
    if age:
        t = os.stat(p).st_mtime - age
        os.utime(p, (t, t))
    return p


# -- content -----------------------------------------------------------------------------------


def test_text_is_written_exactly(tmp_path):
    p = tmp_path / "a.txt"
    assert fileio.atomic_write_text(p, "one\ntwo\n") == p
    assert p.read_bytes() == b"one\ntwo\n"
    fileio.atomic_write_text(p, "x\r\ny\n", newline="")
    assert p.read_bytes() == b"x\r\ny\n"
    fileio.atomic_write_text(p, "x\ny\n", newline="\r\n")
    assert p.read_bytes() == b"x\r\ny\r\n"
    assert _files(tmp_path) == ["a.txt"]


@pytest.mark.parametrize("encoding,expected", [
    ("cp1252", "Grüße – 1\r\n".encode("cp1252")),
    ("utf-16", "Grüße – 1\r\n".encode("utf-16")),
    ("utf-8-sig", b"\xef\xbb\xbf" + "Grüße – 1\r\n".encode()),
])
def test_encodings_and_crlf_kept(tmp_path, encoding, expected):
    p = tmp_path / "t.txt"
    fileio.atomic_write_text(p, "Grüße – 1\r\n", encoding=encoding, newline="")
    assert p.read_bytes() == expected


def test_unencodable_text_changes_nothing(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes(b"old")
    with pytest.raises(UnicodeEncodeError):
        fileio.atomic_write_text(p, "日本", encoding="cp1252")
    assert p.read_bytes() == b"old" and _files(tmp_path) == ["t.txt"]
    with pytest.raises(ValueError, match="newline"):
        fileio.atomic_write_text(p, "x", newline="\t")


def test_missing_folders_are_created(tmp_path):
    p = tmp_path / "a" / "b" / "c.bin"
    fileio.atomic_write_bytes(p, b"\x00\x01")
    assert p.read_bytes() == b"\x00\x01"


# -- failures change nothing -------------------------------------------------------------------


def test_failed_rename_keeps_the_old_file(tmp_path, monkeypatch):
    p = tmp_path / "scores.csv"
    p.write_text("old\n")

    def broken(src, dst):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(fileio.staging.os, "replace", broken)
    with pytest.raises(OutputWriteError) as info:
        fileio.atomic_write_text(p, "new\n")
    msg = str(info.value)
    assert msg.startswith(f"{p}: could not write the file (Input/output error)")
    assert "previous file, if any, is unchanged" in msg and "\n" not in msg
    assert p.read_text() == "old\n" and _files(tmp_path) == ["scores.csv"]


def test_failed_fsync_keeps_the_old_file(tmp_path, monkeypatch):
    p = tmp_path / "m.safetensors"
    p.write_bytes(b"old")

    def broken(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.staging.os, "fsync", broken)
    with pytest.raises(OutputWriteError, match="No space left on device.*free some space"):
        fileio.atomic_write_bytes(p, b"new" * 1000)
    assert p.read_bytes() == b"old" and _files(tmp_path) == ["m.safetensors"]


def test_writer_failing_midway_keeps_the_old_file(tmp_path):
    p = tmp_path / "a.npz"
    p.write_bytes(b"old")
    with pytest.raises(OutputWriteError) as info:
        with fileio.atomic_output(p) as tmp:
            tmp.write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
    err = info.value
    assert isinstance(err, OSError) and isinstance(err, SpecviewError)
    assert err.errno == errno.ENOSPC and err.path == p
    assert err.strerror == "No space left on device"
    assert p.read_bytes() == b"old" and _files(tmp_path) == ["a.npz"]


def test_library_errors_are_reported_with_their_cause(tmp_path):
    class SafetensorError(Exception):
        pass

    p = tmp_path / "m.safetensors"
    with pytest.raises(OutputWriteError, match=r"\(No space left on device\)"):
        with fileio.atomic_output(p):
            raise SafetensorError("Error while serializing: I/O error: No space left on device "
                                  "(os error 28)")
    with pytest.raises(OutputWriteError, match=r"\(RuntimeError: libsndfile broke\)"):
        with fileio.atomic_output(p):
            raise RuntimeError("libsndfile   broke")
    assert _files(tmp_path) == []


@pytest.mark.parametrize("exc", [TypeError("bug"), KeyboardInterrupt()])
def test_bugs_and_interrupts_pass_unchanged_and_clean_up(tmp_path, exc):
    p = tmp_path / "x.txt"
    p.write_text("old")
    with pytest.raises(type(exc)):
        with fileio.atomic_output(p) as tmp:
            tmp.write_text("new")
            raise exc
    assert p.read_text() == "old" and _files(tmp_path) == ["x.txt"]


def test_a_folder_or_a_file_in_the_way_is_refused(tmp_path):
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(OutputWriteError, match="dir.csv: could not write the file.*is a folder"):
        fileio.atomic_write_text(tmp_path / "dir.csv", "x")
    (tmp_path / "plain").write_text("keep")
    with pytest.raises(OutputWriteError, match="plain is a file, not a folder"):
        fileio.atomic_write_text(tmp_path / "plain" / "sub" / "a.txt", "x")
    assert (tmp_path / "plain").read_text() == "keep"
    assert _files(tmp_path) == ["dir.csv", "plain"]


def test_full_disk(small_disk):  # noqa: F811 - fixture
    p = small_disk / "scores.csv"
    p.write_text("old\n")
    fill(small_disk)
    with pytest.raises(OutputWriteError, match=r"scores.csv: could not write the file "
                                               r"\(No space left on device\)"):
        fileio.atomic_write_text(p, "x" * 100_000)
    with pytest.raises(OutputWriteError, match="No space left on device"):
        with fileio.atomic_output(small_disk / "a.npz") as tmp:
            np.savez_compressed(tmp, x=np.random.default_rng(0).random(100_000))
    assert p.read_text() == "old\n" and _files(small_disk) == ["filler", "scores.csv"]


def test_full_disk_for_soundfile(small_disk):  # noqa: F811 - fixture
    import soundfile as sf

    fill(small_disk)
    with pytest.raises(OutputWriteError, match=r"out.wav: .*\(No space left on device\)"):
        with fileio.atomic_output(small_disk / "out.wav") as tmp:
            sf.write(str(tmp), np.zeros(200_000, np.float32), 16000, subtype="FLOAT")
    assert _files(small_disk) == ["filler"]


# -- symlinks and permissions -----------------------------------------------------------------


def test_symlink_is_written_through(tmp_path):
    real = tmp_path / "real" / "a.selections.txt"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(Path("real") / "a.selections.txt")
    assert fileio.atomic_write_text(link, "new") == real
    assert link.is_symlink() and os.readlink(link) == os.path.join("real", "a.selections.txt")
    assert real.read_text() == "new" and _files(real.parent) == ["a.selections.txt"]
    assert _files(tmp_path) == ["link.txt", "real"]


def test_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.npz"
    link.symlink_to(tmp_path / "target.npz")
    with fileio.atomic_output(link) as tmp:
        np.savez(tmp, a=np.arange(3))
    assert link.is_symlink() and np.load(link)["a"].tolist() == [0, 1, 2]


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_get_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    fileio.atomic_write_text(tmp_path / "a.txt", "x")
    with fileio.atomic_output(tmp_path / "b.npz") as tmp:
        np.savez(tmp, a=np.zeros(2))
    for name in ("a.txt", "b.npz"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == mode, name
    d = fileio.make_temp_dir(tmp_path / "build")
    assert stat.S_IMODE(os.stat(d).st_mode) == mode | ((mode & 0o444) >> 2)


@pytest.mark.parametrize("old_mode", [0o600, 0o640, 0o755, 0o444])
def test_existing_files_keep_their_mode(tmp_path, umask, old_mode):
    umask(0o022)
    p = tmp_path / "m.safetensors"
    p.write_bytes(b"old")
    os.chmod(p, old_mode)
    fileio.atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"new" and stat.S_IMODE(os.stat(p).st_mode) == old_mode


def test_the_umask_is_never_changed_to_read_it(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "umask", lambda m: calls.append(m) or 0o022)
    fileio.atomic_write_text(tmp_path / "a.txt", "x")
    assert calls == []


# -- temporary names and orphans ---------------------------------------------------------------


@pytest.mark.parametrize("name,suffix", [
    ("scores.csv", ".csv"), ("a.npz", ".npz"), ("out.wav", ".wav"), ("roc.png", ".png"),
    ("m.safetensors", ".safetensors"), ("README", ""), ("x.tar.gz", ".gz"),
])
def test_temp_names_keep_the_suffix_and_are_recognised(tmp_path, name, suffix):
    with fileio.atomic_output(tmp_path / name) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(f".{name}.")
        assert tmp.suffix == (suffix or ".tmp") and tmp.name.endswith(".tmp" + suffix)
        assert fileio.is_temp_name(tmp.name) and tmp.is_file()
        tmp.write_bytes(b"x")
    assert _files(tmp_path) == [name]


def test_long_names_give_short_enough_temp_names(tmp_path):
    name = "é" * 100 + ".wav"  # 204 bytes
    fileio.atomic_write_bytes(tmp_path / name, b"x")
    assert _files(tmp_path) == [name]


def test_npz_wav_png_written_through_a_temp_keep_their_format(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import soundfile as sf

    with fileio.atomic_output(tmp_path / "map.npz") as tmp:
        np.savez_compressed(tmp, map=np.eye(3, dtype=np.float32))
    with fileio.atomic_output(tmp_path / "play.wav") as tmp:
        sf.write(str(tmp), np.zeros(1600, np.float32), 16000, subtype="FLOAT")
    fig = plt.figure()
    with fileio.atomic_output(tmp_path / "roc.png") as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    assert _files(tmp_path) == ["map.npz", "play.wav", "roc.png"]
    assert np.load(tmp_path / "map.npz")["map"].tolist() == np.eye(3).tolist()
    info = sf.info(str(tmp_path / "play.wav"))
    assert (info.format, info.subtype, info.frames) == ("WAV", "FLOAT", 1600)
    assert (tmp_path / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_orphans_of_dead_writers_are_removed_on_the_next_write(tmp_path):
    dead = _dead_pid()
    orphans = [
        _temp(tmp_path, "scores.csv", dead, suffix=".csv"),
        _temp(tmp_path, "a.npz", dead, suffix=".npz"),
        _temp(tmp_path, "m.safetensors", dead, suffix=".safetensors"),
    ]
    build = tmp_path / f".out.{dead}-{fileio._host_tag()}00c0ffee.tmp"
    (build / "train").mkdir(parents=True)
    (build / "train" / "x.wav").write_bytes(b"RIFF")
    fileio.atomic_write_text(tmp_path / "other.txt", "x")
    assert _files(tmp_path) == ["other.txt"]
    assert not any(p.exists() for p in orphans) and not build.exists()


def test_only_our_orphans_are_removed(tmp_path):
    day = fileio.STALE_SECONDS + 60
    legacy_old = fileio.LEGACY_SECONDS + 60
    dead = _dead_pid()
    me, other = fileio._host_tag(), "ffff" if fileio._host_tag() != "ffff" else "fffe"

    def ours(target, pid, host=me, suffix=".csv"):
        return f".{target}.{pid}-{host}0badcafe.tmp{suffix}"

    cases = [  # name, age in seconds, removed?
        (ours("a.csv", os.getpid()), day, False),  # this process: another thread may write it
        (ours("b.csv", os.getppid()), 0, False),  # a live writer
        (ours("c.csv", dead, other), 60, False),  # another machine's recent write
        (ours("d.csv", dead, other), day, True),  # another machine's, a day old
        (ours("e.csv", dead), 0, True),  # this machine, writer gone
        (".f.txt.0a1b2c3d.tmp", 0, False),  # specview 0.1 sidecar temp, recent
        (".g.safetensors.k2x_9ab0.tmp", legacy_old, True),  # specview 0.1 model temp, old
        (".h.Table.1.selections.txt.0a1b2c3e.tmp", legacy_old, True),
        # not ours, however old
        (".hidden.tmp", day, False), ("notes.tmp", day, False), (".my.settings.tmp", day, False),
        (".x.csv.0a1b2c3d.tmp", day, False), (".f.123-abcd.tmp", day, False),
        ("g.123-abcd0badcafe.tmp", day, False), (".h.12-xyz0badcafe0.tmp", day, False),
        ("results.csv", day, False), (".results.csv", day, False),
    ]
    for name, age, _ in cases:
        p = tmp_path / name
        p.write_bytes(b"x")
        t = os.stat(p).st_mtime - age
        os.utime(p, (t, t))
    removed = fileio.clean_orphans(tmp_path)
    assert sorted(p.name for p in removed) == sorted(n for n, _, gone in cases if gone)
    assert _files(tmp_path) == sorted(n for n, _, gone in cases if not gone)


def test_the_scan_is_rate_limited_per_folder(tmp_path):
    dead = _dead_pid()
    fileio.atomic_write_text(tmp_path / "a.txt", "x")
    orphan = _temp(tmp_path, "a.txt", dead, suffix=".txt")
    assert fileio.clean_orphans(tmp_path, every=3600) == []
    assert orphan.exists()
    assert fileio.clean_orphans(tmp_path) == [orphan]


# -- staged runs -------------------------------------------------------------------------------


def test_staged_outputs_appear_together(tmp_path):
    out = tmp_path / "out"
    with fileio.staged() as outputs:
        fileio.atomic_write_text(out / "maps" / "a.txt", "a")
        with fileio.atomic_output(out / "maps" / "b.npz") as tmp:
            np.savez(tmp, x=np.zeros(1))
        fileio.atomic_write_text(out / "scores.csv", "s")
        assert not (out / "scores.csv").exists() and not (out / "maps" / "a.txt").exists()
        assert outputs.targets == [out / "maps" / "a.txt", out / "maps" / "b.npz",
                                   out / "scores.csv"]
    assert (out / "scores.csv").read_text() == "s" and (out / "maps" / "a.txt").read_text() == "a"
    assert _files(out / "maps") == ["a.txt", "b.npz"]


def test_a_failed_staged_run_changes_nothing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "scores.csv").write_text("previous")
    with pytest.raises(RuntimeError, match="clip 3"):
        with fileio.staged():
            fileio.atomic_write_text(out / "maps" / "new" / "a.txt", "a")
            fileio.atomic_write_text(out / "scores.csv", "half")
            raise RuntimeError("clip 3 cannot be read")
    assert _files(out) == ["scores.csv"] and (out / "scores.csv").read_text() == "previous"


def test_a_failed_write_in_a_staged_run_names_the_run(tmp_path, monkeypatch):
    (tmp_path / "scores.csv").write_text("previous")
    with pytest.raises(OutputWriteError, match="nothing of this run was put in place"):
        with fileio.staged():
            fileio.atomic_write_text(tmp_path / "a.txt", "a")
            with fileio.atomic_output(tmp_path / "scores.csv"):
                raise OSError(errno.ENOSPC, "No space left on device")
    assert _files(tmp_path) == ["scores.csv"]


def test_nested_staged_blocks_join_the_outer_one(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with fileio.staged():
            with fileio.staged():
                fileio.atomic_write_text(tmp_path / "inner.txt", "x")
            assert not (tmp_path / "inner.txt").exists()
            raise KeyboardInterrupt
    assert _files(tmp_path) == []


def test_writing_a_protected_input_is_refused(tmp_path):
    audio = tmp_path / "rec.wav"
    audio.write_bytes(b"RIFF audio")
    link = tmp_path / "out.wav"
    link.symlink_to(audio)
    for target in (audio, link):
        with pytest.raises(ParameterError, match="is an input of this run"):
            with fileio.staged(protect=[audio]):
                fileio.atomic_write_bytes(tmp_path / "other.txt", b"x")
                fileio.atomic_write_bytes(target, b"rendered")
    assert audio.read_bytes() == b"RIFF audio" and _files(tmp_path) == ["out.wav", "rec.wav"]


def test_discard_and_delete_on_commit(tmp_path):
    (tmp_path / "edited.txt").write_text("the user's")
    (tmp_path / "stale.txt").write_text("generated")
    (tmp_path / "stale-edited.txt").write_text("edited")
    with fileio.staged() as outputs:
        fileio.atomic_write_text(tmp_path / "edited.txt", "regenerated")
        outputs.discard(tmp_path / "edited.txt")
        outputs.delete_on_commit(tmp_path / "stale.txt",
                                 sha256=fileio.sha256_file(tmp_path / "stale.txt"))
        outputs.delete_on_commit(tmp_path / "stale-edited.txt", sha256="0" * 64)
        assert (tmp_path / "stale.txt").exists()
    assert (tmp_path / "edited.txt").read_text() == "the user's"
    assert _files(tmp_path) == ["edited.txt", "stale-edited.txt"]


# -- checks before work ------------------------------------------------------------------------


def test_refuse_same_file(tmp_path):
    rec = tmp_path / "rec.wav"
    rec.write_bytes(b"x")
    (tmp_path / "alias.wav").symlink_to(rec)
    os.link(rec, tmp_path / "hard.wav")
    for out in (rec, tmp_path / "alias.wav", tmp_path / "hard.wav", tmp_path / "." / "rec.wav"):
        with pytest.raises(ParameterError, match=r"--out .*: is the input file .*rec.wav"):
            fileio.refuse_same_file(out, [None, tmp_path / "model.safetensors", rec])
    with pytest.raises(ParameterError, match="is the input folder"):
        fileio.refuse_same_file(tmp_path, [tmp_path / "."], what="--out")
    fileio.refuse_same_file(tmp_path / "new.wav", [rec])
    fileio.refuse_same_file(tmp_path / "sub", [tmp_path])


def test_output_checks(tmp_path):
    (tmp_path / "dir.safetensors").mkdir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ParameterError, match="dir.safetensors: is a folder"):
        fileio.check_output_file(tmp_path / "dir.safetensors")
    with pytest.raises(ParameterError, match=r"file is a file, not a folder"):
        fileio.check_output_file(tmp_path / "file" / "m.safetensors")
    with pytest.raises(ParameterError, match="exists and is not a folder"):
        fileio.check_output_folder(tmp_path / "file")
    with pytest.raises(ParameterError, match=r"file is a file, not a folder"):
        fileio.check_output_folder(tmp_path / "file" / "out")
    fileio.check_output_file(tmp_path / "new" / "deeper" / "m.safetensors")
    fileio.check_output_folder(tmp_path / "new" / "out")
    assert _files(tmp_path) == ["dir.safetensors", "file"]


def test_manifest_and_tree_changes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.wav").write_bytes(b"x")
    (tmp_path / "b.txt").write_text("b")
    files = {"a/x.wav": fileio.sha256_file(tmp_path / "a" / "x.wav"),
             "b.txt": fileio.sha256_file(tmp_path / "b.txt")}
    assert fileio.read_manifest(tmp_path) is None
    fileio.atomic_write_text(tmp_path / fileio.MANIFEST_NAME, fileio.manifest_text(files))
    manifest = fileio.read_manifest(tmp_path)
    assert manifest == files and fileio.tree_changes(tmp_path, manifest) == ([], [])
    (tmp_path / "b.txt").write_text("edited")
    (tmp_path / "a" / "mine.txt").write_text("m")
    (tmp_path / ".flag").write_text("ok")
    assert fileio.tree_changes(tmp_path, manifest, ignore=[".flag"]) == (["b.txt"],
                                                                         ["a/mine.txt"])
    (tmp_path / fileio.MANIFEST_NAME).write_text("{broken")
    assert fileio.read_manifest(tmp_path) == {}
