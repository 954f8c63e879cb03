"""An actor's spool: every batch it has sent and the learner has not yet acknowledged, on disk.

One file per batch, `<seq>.msg`, written and fsynced (file and folder entry, so a power cut does
not lose it) before the batch goes on the wire, and deleted once the learner acknowledges it as
durable, so a killed or restarted actor resends what it had sent. The newest batches are also kept
in memory up to `memory_bytes`; older ones are read back from disk.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from robokit.data.durable import write_durably


class SpoolFull(RuntimeError):
    """The spool holds `max_bytes` of unacknowledged batches."""


class Spool:
    def __init__(
        self,
        directory: Path,
        max_bytes: int = 4 * 2**30,
        memory_bytes: int = 256 * 2**20,
        durable: bool = True,
    ):
        self.directory, self.durable = Path(directory), durable
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.memory_bytes = max_bytes, memory_bytes
        self.sizes: OrderedDict[int, int] = OrderedDict()
        self.cached: OrderedDict[int, bytes] = OrderedDict()
        self.total_bytes = self.cached_bytes = 0
        for seq in sorted(int(p.stem) for p in self.directory.glob("*.msg")):
            self.sizes[seq] = (self.directory / f"{seq}.msg").stat().st_size
            self.total_bytes += self.sizes[seq]
        for p in self.directory.glob("*.partial"):
            p.unlink()

    @property
    def newest_seq(self) -> int:
        return next(reversed(self.sizes)) if self.sizes else -1

    def __len__(self) -> int:
        return len(self.sizes)

    def add(self, seq: int, frame: bytes) -> None:
        if self.total_bytes + len(frame) > self.max_bytes:
            raise SpoolFull(
                f"the actor's spool in {self.directory} holds {self.total_bytes} unacknowledged bytes: "
                "the learner is not taking data; start it or raise the spool limit."
            )
        write_durably(self.directory / f"{seq}.msg", frame, self.durable)
        self.sizes[seq] = len(frame)
        self.total_bytes += len(frame)
        self.cached[seq] = frame
        self.cached_bytes += len(frame)
        while self.cached_bytes > self.memory_bytes and len(self.cached) > 1:
            self.cached_bytes -= len(self.cached.popitem(last=False)[1])

    def acknowledge(self, upto: int) -> int:
        """Forget every batch with seq <= upto; returns how many."""
        done = [seq for seq in self.sizes if seq <= upto]
        for seq in done:
            self.total_bytes -= self.sizes.pop(seq)
            frame = self.cached.pop(seq, None)
            self.cached_bytes -= len(frame) if frame is not None else 0
            (self.directory / f"{seq}.msg").unlink(missing_ok=True)
        return len(done)

    def pending(self, after: int = -1):
        """(seq, frame) of unacknowledged batches with seq > after, oldest first."""
        for seq in list(self.sizes):
            if seq > after:
                frame = self.cached.get(seq)
                if frame is None:
                    frame = (self.directory / f"{seq}.msg").read_bytes()
                yield seq, frame
