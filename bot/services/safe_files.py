"""Writing a file whole, and only over a regular file: exports, calendars and reports written by the command line.

The new content goes to a fresh temporary file beside the target (``mkstemp``: created exclusively, mode 0600, so a
planted ``FILE.tmp`` symlink is never followed), is flushed to disk, gets its final mode, and then replaces the
target in one ``os.replace``. A target that exists and is not a regular file (a symlink, a device such as
/dev/null, a named pipe, a socket, a folder) is refused before anything is written, and checked again just before
the replace.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ..errors import InvalidInput

#: Owner read and write only: for files holding personal data.
PRIVATE = 0o600

_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))


def check_replaceable(path: Path) -> None:
    """:class:`InvalidInput` unless ``path`` does not exist or is a regular file (symbolic links are not)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    raise InvalidInput(f"{path} is {kind}, not a regular file: refusing to replace it. Give the name of a new or "
                       "a regular file.")


def default_mode() -> int:
    """The mode a new file gets from this process's umask (0644 with the usual 022)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_write(path: Path, *, mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary handle whose content replaces ``path`` when the block ends without error (nothing otherwise).

    ``mode`` is the new file's permission bits (:data:`PRIVATE` for personal data); None follows the umask.
    """
    path = Path(path)
    check_replaceable(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, default_mode() if mode is None else mode)
        check_replaceable(path)  # again: the target may have changed while the content was written
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


__all__ = ["PRIVATE", "atomic_write", "check_replaceable", "default_mode"]
