"""Files that hold secrets or password hashes: `.env`, the SQLite database. Mode 0600.

Copier cannot set a file's mode, and a copy or an older release may have left these files
readable by everyone: the service creates the ones it owns private, and names the others.
"""

import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger(__name__)

PRIVATE_MODE = 0o600


def create_private_file(path: Path) -> None:
    """Create `path` empty and readable by its owner only; an existing file is left as it is."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        return
    os.close(descriptor)


def warn_if_others_can_read(path: Path, what: str) -> None:
    """Log a warning, with the fix, when the group or other users may read `path`."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        logger.warning(
            "%s %s can be read by other users of this machine (mode %o): run `chmod 600 %s`",
            what,
            path,
            mode,
            path,
        )
