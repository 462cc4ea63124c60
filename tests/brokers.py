"""A real mosquitto MQTT broker on a free loopback port, started and stopped by the tests
(tests/test_monitor.py, tests/gui/test_live.py); skipped where it is not installed."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mosquitto_broker(folder: Path) -> Iterator[tuple[str, int]]:
    """``(host, port)`` of a broker running until the block ends (its config in ``folder``)."""
    exe = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if os.path.exists(p)), None)
    if exe is None:
        pytest.skip("the mosquitto broker is not installed (apt-get install mosquitto; "
                    "`make install` does it as root: the Makefile's SYSTEM_PACKAGES)")
    port = free_port()
    conf = Path(folder) / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > end or proc.poll() is not None:
                    pytest.fail("mosquitto did not start")
                time.sleep(0.05)
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
