"""Safe writes: a file or a folder appears complete at its final name, or not at all.

- `atomic_write(path)`: a temporary file beside `path`, flushed to disk and renamed over it
  (`os.replace`, atomic on POSIX); a run killed while writing leaves the old file intact.
- `staging_dir(target)`: a temporary folder beside `target`, renamed to it when the block ends
  without an error; an interrupted run never leaves a folder that looks complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Open a temporary file beside `path`; on success it replaces `path`, on error it vanishes."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class staging_dir:
    """Context manager: a temporary folder beside `target`, renamed to `target` on success.

    On an exception the temporary folder is removed and `target` is left as it was. An existing
    `target` is replaced only with `overwrite=True` (FileExistsError otherwise).
    """

    def __init__(self, target: str | os.PathLike, overwrite: bool = False):
        self.target = Path(target)
        self.overwrite = overwrite

    def __enter__(self) -> Path:
        if self.target.exists() and not self.overwrite:
            raise FileExistsError(
                f"{self.target} exists; pass overwrite=True (--overwrite) to replace it"
            )
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(
            tempfile.mkdtemp(prefix=f".{self.target.name}.partial-", dir=self.target.parent)
        )
        umask = os.umask(0)
        os.umask(umask)
        self.tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the result should not be
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        old = None
        if self.target.exists():
            old = self.target.with_name(f".{self.target.name}.old-{os.getpid()}")
            self.target.rename(old)
        self.tmp.rename(self.target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return False
