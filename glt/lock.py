"""Locks on the folders glt writes: a run folder while it trains, a dataset or result folder
while it is built, so that a second process stops instead of mixing its files with the first's.

The lock of folder DIR is a file `.DIR.lock` beside it, holding the owner's pid and host, and
held with `flock`: the kernel releases it when its process ends, however it ends. A lock file
left by a killed process is therefore stale and is simply taken over; one whose owner is alive
stops the second process with a `GLTError` naming the folder and the owner.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from glt.errors import GLTError


class FolderLock:
    """Context manager: hold the lock of `folder` (made beside it, with its parent folders)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        absolute = Path(os.path.abspath(folder))  # "." and "run/.." have a name and a parent
        self.path = absolute.parent / f".{absolute.name}.lock"
        self.fd: int | None = None

    def __enter__(self) -> FolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while self.fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.read(fd, 200).decode(errors="replace").strip() or "starting"
                os.close(fd)
                raise GLTError(
                    f"{self.folder} is in use by another glt process ({owner}; lock file "
                    f"{self.path}); wait for it to finish or choose another folder"
                ) from None
            if _same_file(fd, self.path):
                self.fd = fd
            else:  # its previous owner removed it between our open and flock: try again
                os.close(fd)
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        return self

    def __exit__(self, *exc) -> None:
        # Removed before it is released: a process that opened it meanwhile sees that (above).
        self.path.unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
