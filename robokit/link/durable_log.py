"""The learner's write-ahead log of accepted batches: what an acknowledgement promises survives.

Records are appended to numbered segment files as [length u32][crc32 u32][payload] and fsynced
before the batches they hold are acknowledged (one fsync per round of received messages). A
restarted learner replays the segments into its buffers; a torn last record (the learner died
mid-write) is cut off. Segments every record of which is covered by a checkpoint are deleted.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

HEADER = struct.Struct("<II")
SEGMENT_BYTES = 256 * 2**20


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

    def replay(self) -> Iterator[tuple[int, int, bytes]]:
        """(actor, seq, payload) of every intact record, oldest first; cuts a torn tail off."""
        for path in self.segments():
            marks = self.segment_marks.setdefault(path, {})
            with open(path, "r+b") as f:
                good = 0
                while True:
                    header = f.read(HEADER.size)
                    if len(header) < HEADER.size:
                        break
                    length, crc = HEADER.unpack(header)
                    body = f.read(length)
                    if len(body) < length or zlib.crc32(body) != crc:
                        break
                    actor, seq = struct.unpack_from("<qq", body)
                    marks[actor] = max(marks.get(actor, -1), seq)
                    good = f.tell()
                    yield actor, seq, body[16:]
                if good < os.fstat(f.fileno()).st_size:
                    f.truncate(good)

    def append(self, actor: int, seq: int, payload: bytes) -> None:
        if self._file is None or self._file.tell() >= self.segment_bytes:
            self._open_next()
        body = struct.pack("<qq", actor, seq) + payload
        self._file.write(HEADER.pack(len(body), zlib.crc32(body)))
        self._file.write(body)
        marks = self.segment_marks[self._path]
        marks[actor] = max(marks.get(actor, -1), seq)

    def sync(self) -> None:
        """Make every appended record durable (flush + fsync)."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

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
