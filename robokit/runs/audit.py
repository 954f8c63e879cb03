"""`robokit audit RUN`: proof, per actor, that what it sent is in the learner's buffers once each.

Three witnesses are compared, per source (one actor spool):

- the actor's spool (RUN/spool/actor_*, or folders passed in): batches it made, the learner's
  acknowledged mark it holds, batches still waiting for an acknowledgement;
- the learner's checkpoint: the link's ledger (batches and transitions applied, resends, lost and
  quarantined batches) and the link's durable log beyond it (acknowledged, replayed on resume);
- the buffers: every transition's (source, row) stamp, so duplicates, gaps and next frames paired
  across sources or out of order can be counted directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robokit.data.replay import ReplayBuffer
from robokit.link.durable_log import DurableLog


@dataclass
class SourceAudit:
    source: int
    actor: int = -1
    # the actor's side (None: its spool was not found)
    made: int | None = None
    actor_acked: int | None = None
    waiting: int | None = None
    # the learner's side
    applied_seq: int = -1
    batches: int = 0
    transitions: int = 0
    rows: int = 0
    logged_beyond: int = 0
    log_gaps: int = 0
    resent: int = 0
    quarantined: int = 0
    lost: int = 0
    # the buffers
    in_buffer: int = 0
    evicted: int = 0
    missing: int = 0
    duplicates: int = 0
    mispaired: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def learner_seq(self) -> int:
        """The newest batch the learner holds (applied, or logged to be replayed)."""
        return self.applied_seq + self.logged_beyond

    def judge(self) -> None:
        p = self.problems
        if self.made is not None and self.waiting != self.made - 1 - self.actor_acked:
            gone = self.made - 1 - self.actor_acked - self.waiting
            p.append(f"{gone} unacknowledged batches missing from the spool")
        if self.actor_acked is not None and self.actor_acked > self.learner_seq:
            p.append(f"{self.actor_acked - self.learner_seq} acknowledged batches the learner does not hold")
        for count, words in (
            (self.lost, "batches lost with a learner state that is gone"),
            (self.log_gaps, "gaps in the link log"),
            (self.missing, "transitions missing from the buffers"),
            (self.duplicates, "transitions held twice"),
            (self.mispaired, "next frames paired with another source's or a later frame"),
        ):
            if count:
                p.append(f"{count} {words}")


def audit(
    buffers: dict[str, ReplayBuffer], ledger: dict[int, dict], log_dir: Path | None, spools: list[Path]
) -> list[SourceAudit]:
    """One SourceAudit per source seen by any witness, judged."""
    sources: dict[int, SourceAudit] = {}

    def entry(source: int) -> SourceAudit:
        return sources.setdefault(source, SourceAudit(source))

    for source, row in ledger.items():
        a = entry(int(source))
        a.actor, a.applied_seq, a.batches = row.get("actor", -1), row.get("seq", -1), row.get("batches", 0)
        a.transitions, a.rows, a.lost = row.get("transitions", 0), row.get("rows", 0), row.get("lost", 0)
        a.resent = row.get("duplicates", 0) + row.get("gaps", 0)
        a.quarantined = row.get("quarantined", 0)
    if log_dir is not None and Path(log_dir).is_dir():
        _read_log(DurableLog(log_dir), entry)
    for spool in spools:
        _read_spool(Path(spool), entry)
    online = buffers.get("online")
    if online is not None:
        _read_buffer(online, entry)
    for a in sources.values():
        a.judge()
    return sorted(sources.values(), key=lambda a: (a.actor, a.source))


def _read_log(log: DurableLog, entry) -> None:
    beyond: dict[int, list[int]] = {}
    for source, seq, _ in log.replay(repair=False):
        if seq > entry(source).applied_seq:
            beyond.setdefault(source, []).append(seq)
    for source, seqs in beyond.items():
        a = entry(source)
        unique = sorted(set(seqs))
        a.logged_beyond = unique[-1] - a.applied_seq
        a.log_gaps = a.logged_beyond - len(unique)  # batches between the applied mark and the newest
    for source, _, _ in log.quarantined():
        entry(source)  # counted in the ledger; named here so a source seen nowhere else still shows


def _read_spool(folder: Path, entry) -> None:
    if not (folder / "source").exists():
        return
    a = entry(int((folder / "source").read_text()))
    if a.actor < 0 and (folder / "actor").exists():  # never reached the learner: its own word
        a.actor = int((folder / "actor").read_text())
    acked_file = folder / "acked"
    a.actor_acked = int(acked_file.read_text()) if acked_file.exists() else -1
    waiting = sorted(int(p.stem) for p in folder.glob("*.msg"))
    a.waiting = len(waiting)
    a.made = max([a.actor_acked, *waiting]) + 1


def _read_buffer(buffer: ReplayBuffer, entry) -> None:
    n = len(buffer)
    sources, rows = buffer.sources[:n], buffer.rows[:n]
    numbered = rows >= 0
    for source in np.unique(sources[numbered]):
        a = entry(int(source))
        mine = np.sort(rows[numbered & (sources == source)])
        a.in_buffer = len(mine)
        unique = np.unique(mine)
        a.duplicates = len(mine) - len(unique)
        a.evicted = int(unique[0])
        a.missing = max(a.transitions - a.evicted - len(unique), 0)
        if a.transitions == 0:  # in the buffers but in no ledger
            a.problems.append(f"{a.in_buffer} transitions the link's ledger does not know")
    # an image buffer's next frames point at the slot that starts from them: the same source's next row
    if buffer.image_keys:
        slots = np.flatnonzero(buffer.next_slot[:n] >= 0)
        following = buffer.next_slot[slots]
        wrong = (sources[following] != sources[slots]) | (rows[following] != rows[slots] + 1)
        wrong &= numbered[slots]
        for source in np.unique(sources[slots][wrong]):
            entry(int(source)).mispaired = int(np.sum(sources[slots][wrong] == source))


def report(audits: list[SourceAudit]) -> list[str]:
    """A table, a line per source, and a verdict line."""
    header = (
        f"{'actor':>5} {'source':>20} {'made':>6} {'acked':>6} {'wait':>5} {'held':>6} {'replay':>6} "
        f"{'resent':>6} {'quar.':>5} {'transitions':>11} {'in buffer':>9} {'evicted':>7} {'missing':>7} "
        f"{'dupl.':>5} {'mispaired':>9}"
    )
    legend = (
        "batches: made by the actor, acked (the actor's mark), waiting in its spool, held by the learner, "
        "to replay from its log, resent, quarantined; transitions: delivered, in the buffer, evicted by the "
        "ring, missing, doubled, mispaired"
    )
    lines = [legend, header]
    for a in audits:

        def opt(value):
            return "-" if value is None else str(value)

        lines.append(
            f"{a.actor:>5} {a.source:>20} {opt(a.made):>6} {opt(a.actor_acked):>6} {opt(a.waiting):>5} "
            f"{a.learner_seq:>6} {a.logged_beyond:>6} {a.resent:>6} {a.quarantined:>5} {a.transitions:>11} "
            f"{a.in_buffer:>9} {a.evicted:>7} {a.missing:>7} {a.duplicates:>5} {a.mispaired:>9}"
        )
    bad = [a for a in audits if a.problems]
    for a in bad:
        lines.append(f"actor {a.actor} (source {a.source}): " + "; ".join(a.problems))
    quarantined = sum(a.quarantined for a in audits)
    kept = (
        f"; {quarantined} batches quarantined (kept in link_log/quarantine, not applied)"
        if quarantined
        else ""
    )
    if bad:
        lines.append(f"LOSS: {len(bad)} of {len(audits)} sources lost, doubled or mispaired data{kept}")
    else:
        lines.append(f"no batch or transition lost, doubled or mispaired over {len(audits)} sources{kept}")
    return lines


def audit_run(run_dir: Path, spools: tuple[Path, ...] = ()) -> list[SourceAudit]:
    """Audit a `robokit train` / `robokit learner` run folder: its newest checkpoint, its link log
    and its actors' spools (RUN/spool/*, plus `spools` from other machines)."""
    import json

    from robokit.runs import checkpoint
    from robokit.runs.policy import read_config, saved_spec

    run_dir = Path(run_dir)
    latest = checkpoint.latest(run_dir / "checkpoints")
    saved = read_config(run_dir)
    if latest is None or "spec" not in saved:
        raise FileNotFoundError(
            f"{run_dir} holds no checkpoint: pass a run folder that `robokit train` or `robokit learner` "
            "wrote."
        )
    counters = json.loads((latest / "counters.json").read_text())
    ledger = {int(k): v for k, v in (counters.get("link_ledger") or {}).items()}
    if not ledger and not counters.get("link_applied"):
        raise ValueError(
            f"{run_dir} took its data from an actor in the learner's process (--actors 0) or from no "
            "actor: nothing crossed the link to audit."
        )
    spec = saved_spec(saved)
    buffers = {"online": ReplayBuffer.load(latest / "buffer_online.npz", spec)}
    found = sorted(p for p in (run_dir / "spool").glob("*") if p.is_dir())
    return audit(buffers, ledger, run_dir / "link_log", [*found, *spools])
