"""How both sandboxes keep their state files: rewritten atomically, and set aside rather than
deleted when they cannot be used."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: written to ``<path>.tmp`` first, then renamed over it, so a
    crash leaves either the old file or the new one, never half of one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def set_aside(path: Path) -> Path:
    """Move ``path`` to ``<path>.discarded`` (replacing an older one) and return the new path."""
    discarded = path.with_suffix(".discarded")
    os.replace(path, discarded)
    return discarded
