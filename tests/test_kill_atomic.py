"""kill -9 against specview.fileio.atomic_write_text: hundreds of writers killed at random
moments; the file is always exactly the old or the new content, and the temporary files that
killed writes leave are removed by the next write into the folder."""

from __future__ import annotations

import os
import random
import signal
import time

import kill_writers

from specview import fileio

KILLS = 300
# Two contents of different lengths, so that no part of one can pass for the other.
TEXTS = ("old\n" * 40_000, "new content\n" * 20_000)


def test_killed_writers_leave_old_or_new_content_and_no_temp_after_the_next_write(tmp_path):
    target = tmp_path / "clip.Table.1.selections.txt"
    fileio.atomic_write_text(target, TEXTS[0])
    expected = {t.encode() for t in TEXTS}
    rng = random.Random(10)
    left_temps = 0
    ctx = kill_writers.context()
    for k in range(KILLS):
        ours, theirs = ctx.Pipe(duplex=False)
        writer = ctx.Process(target=kill_writers.write_text_until_killed,
                             args=(str(target), TEXTS, k, theirs), daemon=True)
        writer.start()
        theirs.close()
        try:
            assert ours.poll(60) and ours.recv() is True, f"kill {k}: the writer did not write"
            # this writer's first write removed every temporary file the killed ones left
            others = [n for n in os.listdir(tmp_path)
                      if n != target.name and f".{writer.pid}-" not in n]
            assert not others, f"kill {k}: temporary files of killed writers remain: {others}"
            time.sleep(rng.uniform(0.0, 0.004))
        finally:
            writer.kill()
            writer.join()
            ours.close()
        assert writer.exitcode == -signal.SIGKILL
        data = target.read_bytes()
        assert data in expected, f"kill {k}: {len(data)} bytes, neither the old nor the new file"
        left = [n for n in os.listdir(tmp_path) if n != target.name]
        assert all(fileio.is_temp_name(n) for n in left), left
        left_temps += bool(left)
    # some kills landed in the middle of a write (else the test proves little)
    assert left_temps > 0
    fileio.atomic_write_text(target, "final\n")
    assert os.listdir(tmp_path) == [target.name] and target.read_text() == "final\n"
