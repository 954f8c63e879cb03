"""Files that survive a power cut, not only a process kill: what an acknowledgement or a
checkpoint promises is fsynced, file and folder entry both."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Make the entries of `directory` (files created, renamed, deleted in it) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes, durable: bool = True) -> None:
    """Replace `path` by `data` all at once; with `durable`, fsync the file and its folder's entry."""
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as f:
        f.write(data)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if durable:
        fsync_directory(path.parent)


def append_line_durably(path: Path, line: str) -> None:
    """Append `line` (and a newline) to `path` in one write, fsynced, the folder entry too when the
    file is new: a process killed right after keeps it (a JSON-lines log)."""
    path = Path(path)
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:
        fsync_directory(path.parent)


def fsync_tree(folder: Path) -> None:
    """Every file under `folder` and every folder entry, on disk (not only in the page cache)."""
    for path in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
        elif path.is_dir():
            fsync_directory(path)
    fsync_directory(folder)
