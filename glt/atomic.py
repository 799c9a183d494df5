"""Safe writes: a file or a folder appears complete at its final name, or not at all.

- `atomic_write(path)`: a temporary file beside `path`, flushed to disk and renamed over it
  (`os.replace`, atomic on POSIX); a run killed while writing leaves the old file intact.
- `staging_dir(target)`: a temporary folder beside `target`, renamed to it when the block ends
  without an error; an interrupted run never leaves a folder that looks complete. `target` is
  locked meanwhile (`glt.lock`): a second process writing it stops with a clear message.

Both remove their temporary files on an error or Ctrl-C; what a killed process leaves behind is
removed by the next one writing the same target (`remove_temporaries`, `staging_dir`).
Files and folders get the permissions the user's umask gives, as with any other file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from glt.lock import FolderLock


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Open a temporary file beside `path`; on success it replaces `path`, on error it vanishes."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it private; the result should not be
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_temporaries(folder: str | os.PathLike) -> None:
    """Remove the temporary files `atomic_write` left in `folder` when its process was killed
    (call it only while no other process writes there, e.g. holding the folder's lock)."""
    for tmp in Path(folder).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


class staging_dir:
    """Context manager: a temporary folder beside `target`, renamed to `target` on success.

    On an exception the temporary folder is removed and `target` is left as it was. An existing
    `target` is replaced only with `overwrite=True` (FileExistsError otherwise). `target` is
    locked from start to end (`glt.lock.FolderLock`), and the temporary folders of killed runs
    beside it are removed at the start.
    """

    def __init__(self, target: str | os.PathLike, overwrite: bool = False):
        self.target = Path(target)
        self.overwrite = overwrite
        self.lock = FolderLock(self.target)

    def __enter__(self) -> Path:
        self.lock.__enter__()
        try:
            self._refuse_existing()
            for pattern in (".partial-*", ".old-*"):  # of a killed run (no one else holds the lock)
                for leftover in self.target.parent.glob(f".{self.target.name}{pattern}"):
                    shutil.rmtree(leftover, ignore_errors=True)
            self.tmp = Path(
                tempfile.mkdtemp(prefix=f".{self.target.name}.partial-", dir=self.target.parent)
            )
            self.tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the result should not be
        except BaseException:
            self.lock.__exit__(None, None, None)
            raise
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self._refuse_existing()  # made meanwhile by a writer that took no lock
                self._publish()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)  # gone already after a success
            self.lock.__exit__(None, None, None)
        return False

    def _refuse_existing(self) -> None:
        if self.target.exists() and not self.overwrite:
            raise FileExistsError(
                f"{self.target} exists; pass overwrite=True (--overwrite) to replace it"
            )

    def _publish(self) -> None:
        """Rename the staged folder to `target`, replacing the old one."""
        old = None
        if self.target.exists():
            old = self.target.with_name(f".{self.target.name}.old-{os.getpid()}")
            self.target.rename(old)
        self.tmp.rename(self.target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
