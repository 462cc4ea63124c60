"""Start the desktop window: ``run_gui`` for the command line, ``make_main_window`` for tests.

``run_gui`` also installs the :class:`CrashHandler` (a hard crash's traceback and every
uncaught exception go to ``crash.log`` in :func:`state_dir`, with what the session had open)
and quits cleanly: every window's background jobs and audio stream are stopped before the
QApplication goes (:func:`shut_down_windows`, :func:`finish`).
"""

from __future__ import annotations

import faulthandler
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QWidget

    from specview.gui.main_window import MainWindow

CRASH_LOG_NAME = "crash.log"
#: The log is cut to its newest half when it outgrows this at start-up.
MAX_LOG_BYTES = 1_000_000
#: How many times one and the same uncaught exception is written out in full per session.
MAX_REPEATS_LOGGED = 3


#: Run in a helper process that outlives an abort: passes specview's stderr through and
#: appends a Python fatal error (``Py_FatalError`` writes only to stderr and switches
#: faulthandler off first), from its first line on, to the crash log.
_FATAL_TEE = r"""
import os, sys
marker, tail, sink = b"Fatal Python error", b"", None
while True:
    try:
        chunk = os.read(0, 65536)
    except OSError:
        break
    if not chunk:
        break
    try:
        os.write(1, chunk)
    except OSError:
        pass
    if sink is None:
        tail = (tail + chunk)[-(len(chunk) + 64):]
        if marker in tail:
            sink = open(sys.argv[1], "ab")
            sink.write(tail[tail.index(marker):])
            sink.flush()
    else:
        sink.write(chunk)
        sink.flush()
"""


def state_dir() -> Path:
    """Where specview keeps its crash log.

    Returns
    -------
    Path
        ``$SPECVIEW_STATE_DIR`` when set, else ``$XDG_STATE_HOME/specview``, else
        ``~/.local/state/specview`` (not created here).
    """
    if os.environ.get("SPECVIEW_STATE_DIR"):
        return Path(os.environ["SPECVIEW_STATE_DIR"])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "specview"


def _versions() -> str:
    import numpy
    import pyqtgraph
    import shiboken6
    from PySide6 import QtCore

    from specview import __version__

    return (f"specview {__version__}, Python {sys.version.split()[0]}, "
            f"PySide6 {QtCore.__version__}, shiboken6 {shiboken6.__version__}, "
            f"pyqtgraph {pyqtgraph.__version__}, numpy {numpy.__version__}")


def binding_releases_none(calls: int = 200) -> bool:
    """Whether the installed PySide6 drops a reference to ``None`` on Qt calls returning void.

    PySide6/shiboken6 6.12.0 do (one per call); on a Python whose ``None`` is reference-counted
    (3.11) its count soon reaches 0 and the interpreter aborts (``none_dealloc``). The pinned
    release does not; this catches an upgrade by hand. Costs well under a millisecond.
    """
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(calls):
        probe.setObjectName("probe")
    return sys.getrefcount(None) < before - calls // 2


def unsaved_note(win: QWidget | None) -> str:
    """What a crash of ``win`` may lose, in one line for the crash log.

    Parameters
    ----------
    win : QWidget or None
        A main window (with a ``state``); any other window is only named.

    Returns
    -------
    str
        The clip on screen, the model (flagged when it was fitted in this session and never
        saved: the one thing a crash loses) and a reminder that boxes are saved on every edit.
    """
    state = getattr(win, "state", None)
    if state is None:
        return f"window {type(win).__name__}" if win is not None else "no window"
    clip = str(state.clip_path) if state.clip_path is not None else "none"
    model = state.model
    if model is None:
        m = "no model"
    elif state.model_path is None:
        m = (f"model {model.method}/{model.encoder.name} fitted in this session and NOT SAVED "
             "(it has to be fitted again)")
    else:
        m = f"model {state.model_path}"
    n = len(state.boxes)
    return (f"clip {clip} ({n} box{'es' if n != 1 else ''}, saved to its sidecar on every "
            f"edit); {m}")


class CrashHandler:
    """Writes what went wrong to a log the user can send, and keeps the window alive.

    :meth:`install` points :mod:`faulthandler` at the log (a hard crash, such as an abort or a
    segmentation fault, leaves the Python traceback of every thread there) and replaces
    ``sys.excepthook``: an exception that escapes a Qt slot or event handler is written to the
    log with :attr:`describe`'s note of what was open, echoed on stderr, and shown in a
    non-modal message box; the application carries on.

    Parameters
    ----------
    log_path : Path, optional
        The log; ``state_dir() / "crash.log"`` by default. Appended to, one block per session.

    Attributes
    ----------
    describe : callable or None
        Returns the note of the unsaved state written with each entry (see
        :func:`unsaved_note`).
    exceptions : int
        Uncaught exceptions seen since :meth:`install`.
    last_message : str
        The text of the last message box shown.
    """

    def __init__(self, log_path: Path | None = None) -> None:
        self.log_path = Path(log_path) if log_path is not None else state_dir() / CRASH_LOG_NAME
        self.describe: Callable[[], str] | None = None
        self.exceptions = 0
        self.last_message = ""
        self._file: TextIO | None = None
        self._previous_hook = None
        self._faults = False
        self._seen: dict[str, int] = {}
        self._box = None
        self._tee: tuple[subprocess.Popen, int] | None = None

    # -- set-up ------------------------------------------------------------------------------
    def install(self, *, faults: bool = True, fatal_errors: bool = False) -> CrashHandler:
        """Open the log, write the session's header, take over ``sys.excepthook`` and (with
        ``faults``) :mod:`faulthandler`. With ``fatal_errors`` the process's stderr (file
        descriptor 2) also passes through a small helper process that copies a Python fatal
        error (``none_dealloc`` and the like) into the log. A log that cannot be written
        leaves stderr only."""
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._trim()
            self._file = open(self.log_path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115
        except OSError as exc:
            print(f"specview: cannot write the crash log {self.log_path}: {exc}", file=sys.stderr)
            self._file = None
        self.write(f"=== {_now()} session started (pid {os.getpid()}; {_versions()})")
        if faults and self._file is not None:
            faulthandler.enable(file=self._file, all_threads=True)
            self._faults = True
            if fatal_errors:
                self._start_tee()
        self._previous_hook = sys.excepthook
        sys.excepthook = self.excepthook
        return self

    def uninstall(self, note: str | None = None) -> None:
        """Give ``sys.excepthook`` and :mod:`faulthandler` back, write ``note``, close the log."""
        if self._previous_hook is not None and sys.excepthook == self.excepthook:
            sys.excepthook = self._previous_hook
        self._previous_hook = None
        if self._faults:
            faulthandler.disable()
            self._faults = False
        self._stop_tee()
        if note:
            self.write(f"=== {_now()} {note}")
        if self._file is not None:
            self._file.close()
            self._file = None

    def _start_tee(self) -> None:
        try:
            saved = os.dup(2)
            proc = subprocess.Popen([sys.executable, "-c", _FATAL_TEE, str(self.log_path)],
                                    stdin=subprocess.PIPE, stdout=saved,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            self.note(f"stderr is not copied to this log ({exc})")
            return
        sys.stderr.flush()
        os.dup2(proc.stdin.fileno(), 2)
        proc.stdin.close()  # fd 2 is now this process's only end of the pipe
        self._tee = (proc, saved)

    def _stop_tee(self) -> None:
        if self._tee is None:
            return
        proc, saved = self._tee
        self._tee = None
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe closes: the helper reads its end and exits
        os.close(saved)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:  # a child of ours still holds the pipe
            pass

    def _trim(self) -> None:
        try:
            size = self.log_path.stat().st_size
        except OSError:
            return
        if size > MAX_LOG_BYTES:
            data = self.log_path.read_bytes()[-MAX_LOG_BYTES // 2:]
            cut = data.find(b"\n=== ")  # start at a session's header
            self.log_path.write_bytes(data[cut + 1:] if cut >= 0 else data)

    # -- writing -----------------------------------------------------------------------------
    def write(self, text: str) -> None:
        """Append ``text`` (and a newline) to the log and flush it at once."""
        if self._file is None:
            return
        try:
            self._file.write(text.rstrip("\n") + "\n")
            self._file.flush()
        except (OSError, ValueError):
            pass

    def note(self, text: str) -> None:
        """A time-stamped line in the log (what the session opens, for instance)."""
        self.write(f"{_now()} {text}")

    def _state(self) -> str:
        if self.describe is None:
            return "unknown"
        try:
            return self.describe()
        except Exception as exc:  # noqa: BLE001 - the note must never hide the error itself
            return f"unknown ({type(exc).__name__}: {exc})"

    def excepthook(self, etype, value, tb) -> None:
        """Log an uncaught exception with the unsaved state; tell the user; carry on."""
        if issubclass(etype, KeyboardInterrupt):
            (self._previous_hook or sys.__excepthook__)(etype, value, tb)
            return
        try:
            text = "".join(traceback.format_exception(etype, value, tb))
            self.exceptions += 1
            seen = self._seen[text] = self._seen.get(text, 0) + 1
            sys.stderr.write(text)
            if seen <= MAX_REPEATS_LOGGED:
                self.write(f"{_now()} uncaught {etype.__name__} (specview carried on)\n{text}"
                           f"unsaved state: {self._state()}")
            elif seen in (10, 100, 1000, 10000):
                self.write(f"{_now()} the same {etype.__name__} again ({seen} times so far)")
            self._show(etype, value)
        except Exception:  # noqa: BLE001 - the last resort must not raise
            sys.__excepthook__(etype, value, tb)

    def _show(self, etype, value) -> None:
        from PySide6.QtCore import Qt, QThread
        from PySide6.QtWidgets import QApplication, QMessageBox

        app = QApplication.instance()
        if app is None or QThread.currentThread() is not app.thread() or self._box is not None:
            return  # no GUI, not the GUI thread, or a box already tells the user
        self.last_message = (
            f"{etype.__name__}: {value}\n\nspecview carries on, but what you just did may not "
            f"have completed. The details were written to {self.log_path}; please send that "
            "file with a few words on what you were doing.")
        box = QMessageBox(QMessageBox.Icon.Warning, "specview: unexpected error",
                          self.last_message, QMessageBox.StandardButton.Ok,
                          QApplication.activeWindow())
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(self._box_closed)
        self._box = box
        box.open()

    def _box_closed(self, _result: int = 0) -> None:
        self._box = None


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def _application():
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setOrganizationName("specview")
        app.setApplicationName("specview")
    return app


def make_main_window(
    paths: Sequence[str] | None = None,
    *,
    model: str | None = None,
    demo: bool = False,
    settings: QSettings | None = None,
    device: str = "cpu",
    label_column: str | None = None,
) -> MainWindow:
    """Create (a QApplication if needed and) the window, and start opening what was asked.

    ``model`` is loaded first so that a recording in ``paths`` is shown scored. Each path may be
    a recording, a folder/dataset or a ``.safetensors`` model. With ``demo`` the window prepares
    the built-in demo in the background (generated and fitted on first use, then cached), then
    opens it with the first anomalous test clip selected. Nothing here blocks: loading and
    scoring run in worker threads; the window is not shown.
    """
    _application()
    from specview.gui.main_window import MainWindow

    win = MainWindow(settings=settings, device=device)
    if label_column is not None:
        win.state.label_column = label_column or None
    if model:
        win.controller.load_model(model)
    if demo:
        win.controller.start_demo()
    for p in paths or []:
        win.open_path(p)
    return win


def make_compare_window(paths: Sequence[str] | None = None, models: Sequence[str] = (), *,
                        settings: QSettings | None = None, device: str = "cpu", player=None):
    """The comparison window with ``models`` (2-4 model files, loaded in the background) on
    ``paths`` (a recording or a folder/dataset). Not shown."""
    _application()
    from specview.gui.compare_window import CompareWindow

    win = CompareWindow(settings=settings, device=device, player=player)
    job = win.load_models(list(models)) if models else None
    targets = list(paths or [])

    def open_targets():
        for p in targets:
            win.open_path(p)

    if job is not None:
        job.finished.connect(open_targets)
    else:
        open_targets()
    return win


def run_gui(paths: list[str] | None = None, *, model: str | None = None,
            demo: bool = False, compare: Sequence[str] | None = None,
            label_column: str | None = None) -> int:
    """Open the window (see :func:`make_main_window`), or straight into the comparison of
    ``compare`` models, and run the event loop; the exit code."""
    app = _application()
    crash = CrashHandler().install(fatal_errors=True)
    warning = ""
    if binding_releases_none():
        warning = (f"this PySide6 ({_versions()}) loses a reference to None on every Qt call and "
                   "will abort within seconds; reinstall the pinned versions: make install")
        crash.note(f"warning: {warning}")
        print(f"specview: warning: {warning}", file=sys.stderr)
    if compare:
        win = make_compare_window(paths, compare)
    else:
        win = make_main_window(paths, model=model, demo=demo, label_column=label_column)
        state = win.state
        for signal in (state.clip_loaded, state.model_changed, state.model_saved):
            signal.connect(lambda *_a: crash.note(f"open: {unsaved_note(win)}"))
    crash.describe = lambda: unsaved_note(win)
    app.aboutToQuit.connect(lambda: shut_down_windows(app))
    win.show()
    if warning:
        from PySide6.QtWidgets import QMessageBox

        box = QMessageBox(QMessageBox.Icon.Critical, "specview: broken Qt binding", warning,
                          QMessageBox.StandardButton.Ok, win)
        box.open()
    code = int(app.exec())
    return finish(app, code, crash)


def _runners(app: QApplication) -> list:
    from specview.gui.workers import Runner

    found = {id(r): r for w in app.topLevelWidgets() for r in w.findChildren(Runner)}
    return list(found.values())


def shut_down_windows(app: QApplication) -> None:
    """Close every window (each stops its audio and its jobs in ``closeEvent``), then stop any
    runner a window left going. Connected to ``aboutToQuit``, so quitting from anywhere (File ▸
    Quit, the last window closed, the session ending) goes through it; harmless twice."""
    for w in app.topLevelWidgets():
        if w.isVisible():
            w.close()
    for runner in _runners(app):
        runner.shutdown()


def finish(app: QApplication, code: int, crash: CrashHandler | None = None) -> int:
    """After the event loop: make sure no job or sound is left, note the end, return ``code``.

    The windows are left for the process's own teardown: deleting them here, after the event
    loop, crashed (segmentation fault in the colour bar's destructor, 5 of 6 runs of the
    quit-with-jobs test) where leaving them never did. A job that did not stop in time (a
    long computation that checks for cancellation rarely) would run Python in a worker thread
    while the interpreter shuts down, which can abort it; then the process ends at once with
    ``code`` (``os._exit``) after flushing the log and the standard streams: nothing is lost,
    the job's result was going to be discarded anyway.
    """
    shut_down_windows(app)
    busy = [j.name or "a task" for r in _runners(app) for j in r.active]
    if busy:
        if crash is not None:
            crash.uninstall(f"quit while {', '.join(busy)} still ran: exited without waiting "
                            f"(status {code})")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if crash is not None:
        crash.describe = None
        crash.uninstall(f"quit cleanly (status {code})")
    return code

