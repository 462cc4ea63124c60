"""Background work: a :class:`Job` runs one function on a thread pool and reports by signals.

A job's QObject lives in the GUI thread, so every signal it emits from the worker thread is
queued to the GUI thread: slots run there and may touch widgets; the job function never does.
Cancelling sets a flag that the progress callback checks, raising :class:`Cancelled` inside
the long computation at its next progress step.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal

from specview.errors import Cancelled
from specview.types import Progress


class Job(QObject):
    """One unit of background work.

    Signals
    -------
    progressed(int, int)
        ``(done, total)`` from the job's progress callback.
    succeeded(object)
        The function's return value.
    failed(object)
        The exception it raised (a :class:`~specview.errors.SpecviewError` for expected
        failures; anything else is a bug, reported rather than crashing the window).
    cancelled()
        The job stopped because :meth:`cancel` was called.
    finished()
        Always last, after one of the three outcomes.
    """

    progressed = Signal(int, int)
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, fn: Callable[[Progress], Any], *, name: str = "", cancellable: bool = True,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.cancellable = cancellable
        self._fn = fn
        self._cancel = threading.Event()
        self.done = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop at its next progress step (thread-safe)."""
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _progress(self, done: int, total: int) -> None:
        if self._cancel.is_set():
            raise Cancelled(f"{self.name or 'task'} cancelled")
        self.progressed.emit(int(done), int(total))

    def run(self) -> None:
        """Run in the worker thread."""
        lower_priority()
        try:
            out = self._fn(self._progress)
        except Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # noqa: BLE001 - reported to the user, never raised into Qt
            exc.__traceback_text__ = traceback.format_exc()  # type: ignore[attr-defined]
            self.failed.emit(exc)
        else:
            if self._cancel.is_set() and self.cancellable:
                self.cancelled.emit()
            else:
                self.succeeded.emit(out)
        finally:
            self.done.set()
            self.finished.emit()


#: The nice value of the threads that run jobs (Linux: a thread's own scheduling priority). On
#: two cores the GUI thread, an overview streaming in and a span being read are three threads
#: that want a core; the workers yield the CPU to the GUI thread when they compete for it
#: (measured: the longest stall while paging a 24-h recording whose overview streams in).
WORKER_NICE = 5
_niced = threading.local()


def lower_priority(nice: int = WORKER_NICE) -> None:
    """Raise the calling thread's nice value to ``nice`` (once per thread; Linux only, where
    each thread has its own; elsewhere nothing)."""
    if (getattr(_niced, "done", False) or not sys.platform.startswith("linux")
            or threading.current_thread() is threading.main_thread()):
        return
    _niced.done = True
    try:
        tid = threading.get_native_id()
        now = os.getpriority(os.PRIO_PROCESS, tid)
        if now < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    except OSError:
        pass


#: How long quitting waits for running jobs to stop (ms) before the app exits without them.
QUIT_WAIT_MS = 30000


#: Modules the window imports lazily, the first time a recording, a long recording, a store or
#: playback is used: imported ahead, off the GUI thread, so that first use does not stall it
#: (measured: librosa 0.7 s, the playback signals 1.2 s, zarr and scipy.signal 0.3-0.5 s).
#: librosa loads its submodules lazily: ``librosa.filters`` (the mel filters) is what imports
#: numba, and ``librosa.core`` holds ``resample``.
WARM_MODULES = ("librosa", "librosa.core", "librosa.filters", "scipy.signal", "scipy.ndimage",
                "zarr", "specview.playback", "specview.display", "specview.measure",
                "specview.overview", "specview.longscore")

_warm: list[threading.Thread] = []  # the process's one warm-up (the imports are once a process)


def warm_imports(modules: tuple[str, ...] = WARM_MODULES) -> threading.Thread:
    """Import ``modules`` in a background thread (a module that fails to import is left for
    its first real use to report), once a process. Returns the thread (not a daemon: it ends
    in seconds).

    The imports create a few hundred thousand long-lived objects, and each full pass of the
    garbage collector over the heap holds the GIL for all of its length (measured: 200-420 ms
    in the window while numba was imported, the GUI thread stalled as long). So the collector
    is paused while they run, and then every object alive (the modules, the window's widgets)
    moves to its permanent generation (:func:`gc.freeze`): later full passes look at the
    objects made after it only.
    """
    if _warm:
        return _warm[0]
    import gc
    import importlib

    def run() -> None:
        was = gc.isenabled()
        gc.disable()
        try:
            for name in modules:
                try:
                    importlib.import_module(name)
                except Exception:  # noqa: BLE001 - reported where the module is really used
                    pass
        finally:
            gc.freeze()
            if was:
                gc.enable()

    t = threading.Thread(target=run, name="specview-warm-imports")
    _warm.append(t)
    t.start()
    return t


class Runner(QObject):
    """Starts jobs on a private thread pool and keeps them alive until they finish.

    After :meth:`shutdown` (the window is closing) it starts nothing more: a job handed to
    :meth:`start` then is dropped without running, so a slot reacting to the last job's end
    cannot start work that would outlive the window.
    """

    def __init__(self, parent: QObject | None = None, *, max_threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._jobs: set[Job] = set()
        self.closed = False

    def start(self, job: Job) -> Job:
        if self.closed:
            return job
        self._jobs.add(job)
        job.finished.connect(lambda: self._jobs.discard(job))
        self.pool.start(job.run)
        return job

    @property
    def active(self) -> list[Job]:
        return [j for j in self._jobs if not j.done.is_set()]

    def shutdown(self, timeout_ms: int | None = None) -> bool:
        """Start nothing more, cancel every job and wait for the threads (at most
        ``timeout_ms``, :data:`QUIT_WAIT_MS` by default); True when all stopped in time."""
        self.closed = True
        for job in list(self._jobs):
            job.cancel()
        return self.pool.waitForDone(QUIT_WAIT_MS if timeout_ms is None else timeout_ms)


#: Steps of the status bar's progress bar (a few per pixel of it): a job's progress in frames
#: or files is shown in these, so the bar is drawn again only when it moves (a long
#: recording's overview reports 25-30 times a second).
PROGRESS_STEPS = 1000


def progress_step(done: int, total: int) -> int:
    """``done`` of ``total`` in :data:`PROGRESS_STEPS` (rounded down; 0 .. PROGRESS_STEPS)."""
    total = max(int(total), 1)
    return max(0, min(PROGRESS_STEPS, int(done) * PROGRESS_STEPS // total))
