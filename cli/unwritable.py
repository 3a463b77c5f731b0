"""A command that writes into a run directory it cannot write (a read-only disk, another user's files, a full
disk): one line naming the file and the way out, not a traceback."""

from __future__ import annotations

import errno

# What the user can fix by writing elsewhere; any other OSError is a bug and keeps its traceback.
UNWRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}


def unwritable(exc: OSError, way_out: str) -> str | None:
    """The one-line message for ``exc`` when it is a write the user can redirect, else None."""
    if exc.errno not in UNWRITABLE:
        return None
    where = f" {exc.filename}" if exc.filename else ""
    return f"cannot write{where}: {exc.strerror or type(exc).__name__}; {way_out}"
