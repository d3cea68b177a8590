"""Write a file so that a reader never sees it half-written: a temp file beside it, then a rename.

Results that are rewritten while a run goes on (ablation and backtest tables after every fit, the
HTML report) stay readable at every moment, also after a crash or Ctrl-C. The file gets the
mode a plain ``open(path, "w")`` would give it (0666 less the umask), not ``mkstemp``'s private
0600: a report or table is meant to be read by whoever may read the folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def user_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0666 less the process's umask (read by
    setting and restoring it: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (the temp file is removed if anything fails)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding=encoding) as fh:
            fh.write(text)
        os.chmod(tmp, user_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
