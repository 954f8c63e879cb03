"""`robokit audit`: show, per actor, that nothing it sent was lost, doubled or mispaired."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tyro.conf import Positional


@dataclass(frozen=True)
class Audit:
    """Check a run's delivery: per actor, batches made, acknowledged, held, replayed, resent and
    quarantined, and its transitions in the buffers (missing, doubled, mispaired). Exit status 1
    on any loss."""

    run: Positional[Path]
    """Run folder written by `robokit train` or `robokit learner`."""
    spool: tuple[Path, ...] = ()
    """Spool folders of actors on other machines (copied here), beyond RUN/spool."""


def run(args: Audit) -> None:
    from robokit.runs.audit import audit_run, report

    audits = audit_run(args.run, args.spool)
    for line in report(audits):
        print(line)
    if any(a.problems for a in audits):
        raise SystemExit(1)
