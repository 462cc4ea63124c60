"""Writers for the kill -9 tests (test_kill_atomic, test_kill_sidecar), started from one
multiprocessing forkserver: each writer is a fork of a small process that has already imported
specview's writers, so hundreds of them start in milliseconds, not in a fresh interpreter each
(nor as a fork of the test process with torch and Qt loaded)."""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

PRELOAD = ["kill_writers", "specview.fileio", "specview.annotations"]


def context() -> Any:
    """The forkserver context, with this module and the writers preloaded in the server."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def write_text_until_killed(target: str, texts: tuple[str, str], i: int, ready) -> None:
    """``atomic_write_text`` of the two texts in turn, for ever; ``ready`` is set once the
    first write is complete."""
    from specview.fileio import atomic_write_text

    atomic_write_text(target, texts[i % 2])
    ready.send(True)
    while True:
        i += 1
        atomic_write_text(target, texts[i % 2])


def save_sidecar_until_killed(audio: str, saves: tuple[list, list], i: int, ready) -> None:
    """``save_sidecar`` of the two saves in turn, for ever (``ready`` as above)."""
    from specview import annotations as A

    A.save_sidecar(audio, saves[i % 2])
    ready.send(True)
    while True:
        i += 1
        A.save_sidecar(audio, saves[i % 2])
