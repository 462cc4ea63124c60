"""Output files: the one writer behind every file specview writes (results, models, WAVs...).

Nothing a user already has is lost when specview writes, or fails to write, a file.

Guarantees
----------
Atomic
    The content goes to a temporary file beside the target (same folder, hence same file
    system), is flushed and fsynced, then renamed over the target; the folder is fsynced too
    where the system allows. A reader, or a later run after a crash or ``kill -9``, sees the
    old file or the new one, never a part of either.
Failure changes nothing
    A failed write (full disk, no permission, a writer library raising) removes its temporary
    file, leaves the previous file byte-identical and raises :class:`OutputWriteError`, one line
    naming the path and the cause.
Symlinks are written through
    A target that is a symbolic link has the file it points to replaced; the link stays.
    (A hard link is not followed: the other names keep the previous content.)
Permissions
    A file that existed keeps its permission bits (and, where allowed, its owner and group);
    a new one gets ``0666`` less the umask. The temporary file is created with
    ``os.open(..., 0o666)``, so the kernel applies the umask (and any default ACL) itself; the
    process umask is never changed to be read, which would race with other threads.
    (``tempfile.mkstemp`` gives ``0600``, which the renamed file would keep.)
Orphans are removed
    Temporary files are named ``.<name>.<pid>-<host><random>.tmp<suffix>``: ``<suffix>`` is
    the target's own (``.npz``, ``.wav``, ``.png``), because ``np.savez`` appends ``.npz`` to a
    name without it and soundfile and matplotlib choose the format by extension. A write into a
    folder first removes the temporary files (and staging folders) there that a killed write
    left: those whose writer process on this machine no longer runs, those of other machines
    older than :data:`STALE_SECONDS`, and files of the temporary names of earlier specview
    versions (``.<name>.<8 characters>.tmp`` of ``.safetensors``, ``.txt`` and ``.json``
    files) older than :data:`LEGACY_SECONDS`. Nothing that
    does not match these names is ever touched. A folder is scanned on the first write of a
    process and then at most every :data:`CLEAN_INTERVAL` seconds.

Staged runs
-----------
A command writing several files (``score``: ``scores.csv`` and ``maps/*.npz``; ``evaluate``;
``compare``; the demo datasets) runs its writes inside :func:`staged`: every write made
through this module in that block (in the same thread or async context) goes to its temporary
file and stays there; when the block ends without an exception all of them are fsynced and
then renamed into place, in the order written; on any exception all are removed and any folder
the block created is removed again if it is still empty. A run that fails part-way (a
full disk, an unreadable input, Ctrl+C) therefore leaves the previous results byte-identical and
no partial file, and a killed run leaves only temporary files that the next write removes.
Only the final renames are not one atomic step: a failure among them (very unlikely: a rename
in one folder needs no space) is reported with the number of files already replaced. Nested
blocks join the outermost one. Inside a block, reading a target gives its previous content.

Before any work, commands check their outputs with :func:`check_output_file` or
:func:`check_output_folder` (existing folder where a file goes, a file in the way of a folder,
no write permission) and :func:`refuse_same_file` (an output that is one of the inputs).
"""

from specview.fileio.atomic import atomic_output, atomic_write_bytes, atomic_write_text
from specview.fileio.checks import (
    check_output_file,
    check_output_folder,
    refuse_same_file,
    resolve_target,
)
from specview.fileio.failures import OutputWriteError
from specview.fileio.manifest import (
    MANIFEST_NAME,
    manifest_text,
    read_manifest,
    sha256_file,
    tree_changes,
)
from specview.fileio.orphans import (
    CLEAN_INTERVAL,
    LEGACY_SECONDS,
    STALE_SECONDS,
    clean_orphans,
    is_temp_name,
)
from specview.fileio.orphans import _host_tag as _host_tag
from specview.fileio.staging import OutputSet, atomic_folder, make_temp_dir, staged

__all__ = [
    "CLEAN_INTERVAL",
    "LEGACY_SECONDS",
    "MANIFEST_NAME",
    "STALE_SECONDS",
    "OutputSet",
    "OutputWriteError",
    "atomic_folder",
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_file",
    "check_output_folder",
    "clean_orphans",
    "is_temp_name",
    "make_temp_dir",
    "manifest_text",
    "read_manifest",
    "refuse_same_file",
    "resolve_target",
    "sha256_file",
    "staged",
    "tree_changes",
]
