"""No crash, ever (issue 11): the binding keeps None's reference count, and the real window
survives a minute of repainting under zoom and pan and twenty open/quit cycles.

The abort this guards against (``Fatal Python error: none_dealloc``, status 134) came from
PySide6/shiboken6 6.12.0 releasing a reference to ``None`` on every Qt call returning void
(``bench/repro_fill_crash.py`` measures it); the filled frame-score curve makes thousands of
such calls per paint. The stress run happens in a child process (tests/gui/gui_child.py), so
an abort fails the test instead of killing pytest, under Xvfb when it is installed (a real X
server, as a user has) and offscreen otherwise.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from specview.app import binding_releases_none

CHILD = Path(__file__).with_name("gui_child.py")
REPAINT_S = 60.0
CYCLES = 20
CYCLE_PAINT_S = 0.6


def test_the_binding_keeps_none_references() -> None:
    """Qt calls returning void leave ``None``'s reference count as it was (6.12.0: -1 each)."""
    from PySide6.QtCore import QObject, QPointF
    from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath

    img = QImage(64, 64, QImage.Format.Format_ARGB32_Premultiplied)
    painter = QPainter(img)
    path = QPainterPath()
    path.moveTo(0, 0)
    path.lineTo(40, 40)
    brush, obj = QBrush(QColor(255, 176, 0, 60)), QObject()
    calls = {"QPainter.fillPath": lambda: painter.fillPath(path, brush),
             "QPainterPath.lineTo": lambda: path.lineTo(QPointF(1, 1)),
             "QObject.setObjectName": lambda: obj.setObjectName("x")}
    try:
        for name, call in calls.items():
            call()
            before = sys.getrefcount(None)
            for _ in range(1000):
                call()
            assert sys.getrefcount(None) - before > -10, f"{name} drops references to None"
    finally:
        painter.end()
    assert not binding_releases_none()


class Display:
    """A private Xvfb server on a free display (``-displayfd``), stopped on exit."""

    def __init__(self) -> None:
        read, write = os.pipe()
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write)
        try:
            ready, _, _ = select.select([read], [], [], 20.0)
            number = os.read(read, 32).decode().strip() if ready else ""
        finally:
            os.close(read)
        if not number:
            self.stop()
            raise RuntimeError("Xvfb did not start")
        self.name = f":{number}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


PROBE = "import sys; from PySide6.QtGui import QGuiApplication; QGuiApplication(sys.argv)"


def reachable_display(env: dict[str, str], attempts: int = 2) -> Display | None:
    """A fresh Xvfb that a minimal Qt client can connect to, or None.

    A server that starts but cannot be reached (seen in a sandboxed CI run: ``could not
    connect to display :0``) or a machine without Qt's xcb libraries is the test bench
    failing, not the window: after ``attempts`` servers the stress run goes offscreen.
    """
    for _ in range(attempts):
        try:
            display = Display()
        except RuntimeError:
            continue
        probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                               timeout=60, env={**env, "DISPLAY": display.name,
                                                "QT_QPA_PLATFORM": "xcb"})
        if probe.returncode == 0:
            return display
        display.stop()
        print(f"Xvfb {display.name} unusable (status {probe.returncode}): "
              f"{probe.stderr.strip()[-300:]}")
    return None


@pytest.mark.slow
def test_the_window_survives_repainting_and_quitting(tmp_path: Path, tiny_dataset,
                                                     model_path) -> None:
    env = dict(os.environ)
    env.update(SPECVIEW_STATE_DIR=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_STATE_HOME=str(tmp_path / "xdg-state"))
    report = tmp_path / "report.json"
    # the long recording's share of the minute; each cycle repaints CYCLE_PAINT_S more
    long_s = REPAINT_S - CYCLES * CYCLE_PAINT_S
    display = reachable_display(env) if shutil.which("Xvfb") else None
    if display is not None:
        env.update(DISPLAY=display.name, QT_QPA_PLATFORM="xcb")
    else:
        env["QT_QPA_PLATFORM"] = "offscreen"
    try:
        out = subprocess.run(
            [sys.executable, str(CHILD), "stress", str(tiny_dataset), str(model_path),
             str(report), "--seconds", str(long_s), "--cycles", str(CYCLES),
             "--cycle-paint", str(CYCLE_PAINT_S)],
            env=env, capture_output=True, text=True, timeout=300)
    finally:
        if display is not None:
            display.stop()
    log_path = tmp_path / "state" / "crash.log"
    log = log_path.read_text() if log_path.exists() else ""
    tail = f"{out.stderr[-3000:]}\n--- crash.log:\n{log[-3000:]}"
    assert out.returncode != -signal.SIGABRT, f"the interpreter aborted:\n{tail}"
    assert out.returncode == 0, f"status {out.returncode}:\n{tail}"
    assert "uncaught" not in log and "Fatal" not in log, tail
    r = json.loads(report.read_text())
    print("stress:", json.dumps({k: v for k, v in r.items() if k != "samples"}))  # with -s
    assert r["uncaught_exceptions"] == 0
    assert r["platform"] == ("xcb" if display is not None else "offscreen")
    # every item was there: a 30-minute recording, its filled curve, boxes, flagged regions
    assert r["long"]["curve_points"] == r["long"]["frames"] >= 70_000
    assert r["long"]["boxes"] == 7 and r["long"]["flagged"] >= 7
    assert r["fill_paths_last_paint"] > 100  # the fill really was drawn, in many paths
    assert r["repaint_s"] >= REPAINT_S and r["frames"] > 300
    assert r["quit_closed"] and r["cycles"] == CYCLES
    # the measured cause: None's count must not fall. Over-release was thousands per paint;
    # a little rise is harmless (numpy's np.dtype(<a class>), used by pyqtgraph.mkColor,
    # keeps one reference per call) and is only bounded loosely
    assert r["none_lost_in_paint"] / r["frames"] < 1.0
    assert min(r["samples"]) >= r["none_refs_start"] - 1000
    assert r["none_refs_end"] >= r["none_refs_start"] - 1000
