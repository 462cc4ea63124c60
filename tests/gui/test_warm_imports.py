"""The window's warm-up imports (specview.gui.workers.warm_imports): the libraries the first
span needs imported ahead, the collector paused while they run, and what is alive after them
frozen (a full collection over the heap holds the GIL for hundreds of ms)."""

from __future__ import annotations

import subprocess
import sys

CHILD = r"""
import gc, sys
from specview.gui.workers import warm_imports
assert gc.get_freeze_count() == 0 and gc.isenabled()
t = warm_imports(("json", "librosa", "librosa.filters", "no_such_module_here"))
assert warm_imports() is t  # once a process
t.join()
assert "librosa.filters" in sys.modules and "numba" in sys.modules
assert gc.isenabled()  # enabled again after the imports
frozen = gc.get_freeze_count()
assert frozen > 100_000, frozen  # the modules' objects: out of every later full pass
print("ok", frozen)
"""


def test_warm_imports_import_once_then_freeze_the_heap():
    p = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.startswith("ok")
