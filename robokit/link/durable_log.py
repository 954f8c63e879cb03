"""The learner's write-ahead log of accepted batches: what an acknowledgement promises survives.

Records are appended to numbered segment files as [length u32][crc32 u32][payload] and fsynced
before the batches they hold are acknowledged (one fsync per round of received messages; a new
segment's directory entry is fsynced too, so a power cut cannot lose the file itself). A restarted
learner replays the segments into its buffers; a torn last record (the learner died mid-write) is
cut off. Segments every record of which is covered by a checkpoint are deleted. A record that a
restarted learner cannot apply is moved to quarantine/ (kept, never replayed again).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

from robokit.data.durable import fsync_directory

HEADER = struct.Struct("<II")
IDS = struct.Struct("<qq")  # (source, seq) at the start of each record's body
SEGMENT_BYTES = 256 * 2**20


class LogBroken(RuntimeError):
    """The log could not be written nor its last record undone: acknowledging more would lie."""


class DurableLog:
    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        # newest sequence number per actor in each segment, so covered segments can be deleted
        self.segment_marks: dict[Path, dict[int, int]] = {}
        self._file = None
        self._path: Path | None = None

    def segments(self) -> list[Path]:
        return sorted(self.directory.glob("segment_*.log"))

    def replay(self, repair: bool = True) -> Iterator[tuple[int, int, bytes]]:
        """(actor, seq, payload) of every intact record, oldest first; cuts a torn tail off (unless
        `repair` is False: a reader beside a live learner)."""
        for path in self.segments():
            marks = self.segment_marks.setdefault(path, {})
            with open(path, "r+b" if repair else "rb") as f:
                good = 0
                while True:
                    header = f.read(HEADER.size)
                    if len(header) < HEADER.size:
                        break
                    length, crc = HEADER.unpack(header)
                    body = f.read(length)
                    if len(body) < length or zlib.crc32(body) != crc:
                        break
                    actor, seq = IDS.unpack_from(body)
                    marks[actor] = max(marks.get(actor, -1), seq)
                    good = f.tell()
                    yield actor, seq, body[16:]
                if repair and good < os.fstat(f.fileno()).st_size:
                    f.truncate(good)

    def append(self, actor: int, seq: int, payload: bytes) -> None:
        """Append one record (not yet durable: `sync`). A failed write (a full disk) is undone and
        raised as OSError; if it cannot be undone, LogBroken."""
        if self._file is None or self._file.tell() >= self.segment_bytes:
            self._open_next()
        ids = IDS.pack(actor, seq)
        start = self._file.tell()
        try:
            self._file.write(HEADER.pack(len(ids) + len(payload), zlib.crc32(payload, zlib.crc32(ids))))
            self._file.write(ids)
            self._file.write(payload)
            self._file.flush()
        except OSError:
            self._undo(start)
            raise
        marks = self.segment_marks[self._path]
        marks[actor] = max(marks.get(actor, -1), seq)

    def _undo(self, start: int) -> None:
        try:
            self._file.seek(start)
            self._file.truncate(start)
        except (OSError, ValueError) as err:
            raise LogBroken(
                f"the link log {self._path} could not be repaired after a failed write: {err}"
            ) from err

    def sync(self) -> None:
        """Make every appended record durable (flush + fsync)."""
        if self._file is not None:
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError as err:  # after a failed fsync nothing says what reached the disk
                raise LogBroken(f"the link log {self._path} could not be made durable: {err}") from err

    def drop_covered(self, applied: dict[int, int]) -> int:
        """Delete closed segments whose records all have seq <= applied[actor]; returns how many."""
        dropped = 0
        for path in self.segments():
            if path == self._path:
                continue
            marks = self.segment_marks.get(path)
            if marks is not None and all(seq <= applied.get(actor, -1) for actor, seq in marks.items()):
                path.unlink()
                self.segment_marks.pop(path)
                dropped += 1
        return dropped

    def close(self) -> None:
        if self._file is not None:
            self.sync()
            self._file.close()
            self._file = None

    def _open_next(self) -> None:
        self.close()
        existing = self.segments()
        number = int(existing[-1].stem.split("_")[1]) + 1 if existing else 0
        self._path = self.directory / f"segment_{number:06d}.log"
        self._file = open(self._path, "ab")  # noqa: SIM115 (kept open across appends)
        self.segment_marks[self._path] = {}
        fsync_directory(self.directory)

    def quarantine(self, actor: int, seq: int, payload: bytes, reason: str) -> Path:
        """Keep a record that cannot be applied in quarantine/ (with why), durably."""
        folder = self.directory / "quarantine"
        folder.mkdir(exist_ok=True)
        path = folder / f"source_{actor}_seq_{seq}.msg"
        for target, data in ((path, payload), (path.with_suffix(".why"), reason.encode())):
            with open(target, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        fsync_directory(folder)
        return path

    def quarantined(self) -> list[tuple[int, int, str]]:
        """(source, seq, reason) of every quarantined record."""
        out = []
        for why in sorted((self.directory / "quarantine").glob("*.why")):
            _, source, _, seq = why.stem.split("_")
            out.append((int(source), int(seq), why.read_text()))
        return out
