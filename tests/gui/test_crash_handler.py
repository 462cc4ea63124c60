"""The crash handler (specview.app.CrashHandler) and quitting with work in progress."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer

from specview.app import MAX_REPEATS_LOGGED, CrashHandler, state_dir, unsaved_note

CHILD = Path(__file__).with_name("gui_child.py")
TIMEOUT = 60000


def child_env(tmp_path: Path) -> dict[str, str]:
    """The child's environment: its crash log, preferences and state under ``tmp_path``."""
    env = dict(os.environ)
    env.update(SPECVIEW_STATE_DIR=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_STATE_HOME=str(tmp_path / "xdg-state"), QT_QPA_PLATFORM="offscreen")
    return env


@pytest.fixture
def handler(tmp_path: Path):
    h = CrashHandler(tmp_path / "crash.log").install(faults=False)
    yield h
    if h._box is not None:
        h._box.close()
    h.uninstall()


def boom() -> None:
    raise RuntimeError("boom in a slot")


def test_exception_in_a_slot_is_logged_and_the_window_stays_alive(
    qtbot, window, handler, tiny_dataset
) -> None:
    handler.describe = lambda: unsaved_note(window)
    QTimer.singleShot(0, boom)  # a Qt slot raising: PySide hands it to sys.excepthook
    qtbot.waitUntil(lambda: handler.exceptions == 1, timeout=TIMEOUT)
    log = handler.log_path.read_text()
    assert "session started" in log and "PySide6 " in log
    assert "uncaught RuntimeError (specview carried on)" in log
    assert "Traceback (most recent call last)" in log and "RuntimeError: boom in a slot" in log
    assert "unsaved state: clip none (0 boxes, saved to its sidecar on every edit); no model" in log
    # the user is told without a modal loop, and pointed at the log
    box = handler._box
    assert box is not None and box.isVisible()  # shown with open(): no nested event loop
    assert "boom in a slot" in handler.last_message
    assert str(handler.log_path) in handler.last_message
    # and the window goes on working: a clip opens and its state lands in the next entry
    clip = tiny_dataset / "test" / "anomaly_000.wav"
    window.open_path(clip)
    qtbot.waitUntil(lambda: window.state.clip_path == clip, timeout=TIMEOUT)
    assert window.isVisible()
    box.close()
    QTimer.singleShot(0, lambda: window.state.boxes[0].no_such_attribute)
    qtbot.waitUntil(lambda: handler.exceptions == 2, timeout=TIMEOUT)
    assert f"unsaved state: clip {clip} (1 box, saved" in handler.log_path.read_text()


def test_a_repeated_exception_is_logged_a_bounded_number_of_times(qtbot, handler) -> None:
    for _ in range(12):
        QTimer.singleShot(0, boom)
    qtbot.waitUntil(lambda: handler.exceptions == 12, timeout=TIMEOUT)
    log = handler.log_path.read_text()
    assert log.count("RuntimeError: boom in a slot") == MAX_REPEATS_LOGGED
    assert "the same RuntimeError again (10 times so far)" in log


def test_uninstall_gives_the_hook_back(tmp_path: Path) -> None:
    before = sys.excepthook
    h = CrashHandler(tmp_path / "crash.log").install(faults=False)
    assert sys.excepthook == h.excepthook
    h.uninstall("quit cleanly (status 0)")
    assert sys.excepthook is before
    assert (tmp_path / "crash.log").read_text().rstrip().endswith("quit cleanly (status 0)")


def test_an_unsaved_fit_is_named_in_the_note(window, model_path) -> None:
    from specview import pipeline

    model = pipeline.load_model(model_path)
    window.state.set_model(model, None)
    assert "fitted in this session and NOT SAVED" in unsaved_note(window)
    window.state.set_model(model, model_path)
    assert f"model {model_path}" in unsaved_note(window)


def test_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SPECVIEW_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert state_dir() == tmp_path / "specview"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert state_dir() == Path.home() / ".local" / "state" / "specview"
    monkeypatch.setenv("SPECVIEW_STATE_DIR", str(tmp_path / "x"))
    assert state_dir() == tmp_path / "x"


def test_a_hard_crash_leaves_its_traceback_and_state_in_the_log(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(CHILD), "abort"], env=child_env(tmp_path),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == -signal.SIGABRT
    log = (tmp_path / "state" / "crash.log").read_text()
    assert "session started" in log
    assert "open: clip /data/fan/clip_007.wav (3 boxes); model /m/fan.safetensors" in log
    assert "Fatal Python error: Aborted" in log
    assert 'gui_child.py", line' in log and "in abort" in log


def test_a_python_fatal_error_lands_in_the_log(tmp_path: Path) -> None:
    """The issue's abort (None's count reaching 0): Python prints it to stderr only and turns
    faulthandler off first; the crash handler's helper process copies it into the log, and
    the terminal still shows it."""
    out = subprocess.run([sys.executable, str(CHILD), "fatal"], env=child_env(tmp_path),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == -signal.SIGABRT
    assert "Fatal Python error: none_dealloc" in out.stderr
    log = (tmp_path / "state" / "crash.log").read_text()
    assert "open: clip /data/fan/clip_007.wav (3 boxes); model /m/fan.safetensors" in log
    assert "Fatal Python error: none_dealloc: deallocating None" in log
    assert 'gui_child.py", line' in log and "in fatal" in log


def run_quit_busy(tmp_path: Path, tiny_dataset: Path, model_path: Path, *args: str):
    out = subprocess.run([sys.executable, str(CHILD), "quit-busy", str(tiny_dataset),
                          str(model_path), *args], env=child_env(tmp_path),
                         capture_output=True, text=True, timeout=180)
    tail = out.stderr[-3000:]
    assert out.returncode == 0, f"status {out.returncode}\n{tail}"
    lines = out.stdout.strip().splitlines()
    assert lines and lines[0] == "quitting", tail
    report = json.loads(lines[-1]) if len(lines) > 1 else None  # None: it left by os._exit
    return report, (tmp_path / "state" / "crash.log").read_text()


def test_quit_waits_for_jobs_that_stop(tmp_path: Path, tiny_dataset, model_path) -> None:
    """File ▸ Quit while a fit runs (cancelled) and a short job that cannot be cancelled:
    the window waits for both, then the process exits 0 through the ordinary path."""
    report, log = run_quit_busy(tmp_path, tiny_dataset, model_path,
                                "--wait-ms", "20000", "--stubborn-s", "1.5")
    assert report is not None and report["code"] == 0
    assert log.rstrip().endswith("quit cleanly (status 0)")
    assert "uncaught" not in log and "Fatal" not in log


def test_quit_does_not_wait_for_ever(tmp_path: Path, tiny_dataset, model_path) -> None:
    """A job still running when the wait is over: the process ends at once with status 0
    instead of shutting Python down under a running worker thread."""
    report, log = run_quit_busy(tmp_path, tiny_dataset, model_path,
                                "--wait-ms", "500", "--stubborn-s", "30")
    assert report is None
    # the stubborn job is among those still running (on a loaded machine the clip's loading
    # may be too, and is named beside it)
    assert re.search(r"quit while (?:[^\n]*, )?stubborn job(?:, [^\n]*)? still ran: exited "
                     r"without waiting \(status 0\)", log), log[-500:]
    assert "Fatal" not in log
