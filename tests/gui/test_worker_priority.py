"""The window's worker threads run at a lower CPU priority than the GUI thread
(specview.gui.workers.lower_priority), so that on a busy machine the window keeps a core."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from specview.gui import workers

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="threads have their own nice value on Linux only")


def test_jobs_run_niced_and_the_gui_thread_is_not(qapp):
    main_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    runner = workers.Runner(max_threads=1)
    seen = []

    def work(_progress):
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return len(seen)

    jobs = [runner.start(workers.Job(work, name="probe")) for _ in range(2)]
    assert runner.pool.waitForDone(10_000)
    assert all(j.done.is_set() for j in jobs)
    assert seen and all(n >= max(workers.WORKER_NICE, main_before) for n in seen)
    workers.lower_priority()  # on the main thread: nothing
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_before
