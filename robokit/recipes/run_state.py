"""A training run's state outside the agent: the counters a checkpoint keeps, and the loop's own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from robokit.runs import checkpoint


@dataclass
class Counters:
    """A checkpoint's counters.json: the learner's progress, its RNG and what the link applied."""

    env_steps: int = 0
    transitions: int = 0
    updates: int = 0
    wall_s: float = 0.0
    learner_rng: dict | None = None
    link_applied: dict[str, int] = field(default_factory=dict)
    """{actor spool: last batch in the buffers}, as text keys (JSON)."""
    link_ledger: dict[str, dict] = field(default_factory=dict)
    """{actor spool: what its batches delivered (robokit.link.zmq_learner.new_ledger)}: the learner
    side of `robokit audit`."""

    @classmethod
    def from_json(cls, saved: dict, folder: Path) -> Counters:
        """The counters a checkpoint wrote; one sentence for one that holds none."""
        if not isinstance(saved, dict) or not {"env_steps", "updates"} <= set(saved):
            raise checkpoint.CheckpointError(
                f"{folder} holds no training counters (it was not written by `robokit train`): resume "
                "a folder that `robokit train` wrote, or start a new run."
            )
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in saved.items() if k in known}
        values.setdefault("transitions", saved["env_steps"])  # runs before action chunks: one each
        return cls(**values)

    def to_json(self) -> dict:
        return asdict(self)

    def apply_to(self, learner) -> None:
        learner.env_steps, learner.transitions, learner.updates = (
            self.env_steps,
            self.transitions,
            self.updates,
        )
        if self.learner_rng is not None:
            learner.rng = checkpoint.rng_from_state(self.learner_rng)


@dataclass
class LoopState:
    """What the training loop keeps between steps (not checkpointed: a resumed run starts its
    evaluation streak afresh)."""

    progress: Callable[[dict], None] = lambda row: None
    """Called with env_steps, updates, wall_s and success_rate (the latest evaluation's, None before
    the first) every second or so, and with each evaluation's whole row."""
    last_progress: float = 0.0
    say: Callable[[str], None] = print
    next_eval: int = 0
    next_checkpoint: int = 0
    recent: list[float] = field(default_factory=list)
    """Success rates of the periodic evaluations so far."""
    stop_requested: bool = False
    """Ctrl-C: checkpoint and stop without the final evaluation."""
    reached: bool = False
    """`stop_at_success` held for the streak of evaluations."""
