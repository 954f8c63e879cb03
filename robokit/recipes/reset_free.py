"""Reset-free training: forward and backward episodes take turns, each starting where the
previous one left the scene.

Nobody, and no script, puts the object back between episodes: the backward agent's task is the
forward task's reset ("the object is back where an episode starts"), so the two undo each other.
Each direction has its own reward (on a real arm its own classifier: the backward one is the reset
classifier). By default one goal-conditioned agent serves both directions (`shared_agent`) and its
actor loss has a behaviour-cloning term on the demos (`bc_weight`); otherwise each direction has
its own agent, buffers and demos. The arm
itself goes home and to a randomised start before every episode, as a real arm's scripted reset
does; only the objects are left alone, unless `fallback_reset_after` asks for a counted scripted
placement after failed backward episodes (a person's intervention on a real arm). Lock-step, in
one process: each env step of an agent is followed by one update of that agent.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from robokit.agents.sac import KIND as SAC_KIND
from robokit.recipes.alternation import DIRECTIONS, Alternation
from robokit.recipes.online_setup import streak_reached
from robokit.recipes.turns import (
    Fallback,
    Turn,
    evaluate_alternating,
    object_poses,
    train_episode,
    use_direction,
)
from robokit.rewards.success_checks import Labeller, SuccessChecks, simulator_labeller
from robokit.runs import checkpoint
from robokit.runs.folder import write_config
from robokit.runs.log import RunLog
from robokit.types import EnvSpec

__all__ = [
    "DIRECTIONS",
    "Alternation",
    "Fallback",
    "ResetFreeConfig",
    "evaluate_alternating",
    "train_reset_free",
]


@dataclass(frozen=True)
class ResetFreeConfig:
    env: str = "Relocate-v0"
    preset: str = "cpu"
    max_env_steps: int = 60_000
    """Env steps of both agents together."""
    start_after: int = 500
    """Each agent's own online transitions (random actions) before its updates start."""
    demo_ratio: float = 0.5
    eval_every: int = 2_000
    eval_episodes: int = 20
    """Alternating episodes per periodic evaluation (half of them forward)."""
    final_eval_episodes: int = 50
    eval_actions: str = "mean"
    """Evaluations act with the policies' mean actions, or "sampled" ones (as in training)."""
    stop_at_success: float | None = 0.9
    """Stop once two evaluations in a row reach this success in both directions."""
    fallback_reset_after: int | None = None
    """After this many backward episodes in a row that did not end in (rewarded) success, the next
    forward episode starts from the scripted placement: a person's intervention on a real arm. They
    are counted ("interventions" in the evaluations and the result); evaluations never use them.
    None: never (fully reset-free training)."""
    bc_weight: float = 0.5
    """The agents' behaviour-cloning weight on demo rows (SACConfig.bc_weight)."""
    shared_agent: bool = True
    """One goal-conditioned agent for both directions (the goal region is in the observation):
    one learner, one set of buffers holding both directions' demos and episodes."""
    check_successes: bool = False
    """With classifier rewards: a labeller checks each success a classifier claims in training (see
    `robokit.rewards.success_checks`); a rejected claim earns nothing, and at each evaluation the
    classifiers are fine-tuned on the verdicts so far."""
    seed: int = 0


@dataclass
class Progress:
    """The loop's state, saved with every checkpoint (as "loop" in its counters) so that a resumed
    run goes on from here."""

    next_eval: int
    steps: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DIRECTIONS, 0))
    episodes: int = 0
    """Episodes begun (the alternation's position)."""
    failures: int = 0
    """Backward episodes in a row that failed (the fallback's count)."""
    interventions: int = 0
    recent: list[float] = field(default_factory=list)
    """Success rates of the periodic evaluations (the lower of the two directions)."""
    wall_s: float = 0.0
    objects: list | None = None
    """Where the simulated scene's objects are (None on a real arm)."""
    checks: dict | None = None
    """The success checks' counts (with --check-successes)."""

    @property
    def total_steps(self) -> int:
        return sum(self.steps.values())


@dataclass
class ResetFreeResult:
    run_dir: Path
    env_steps: dict[str, int]
    wall_s: float
    final_eval: dict
    evals: list = field(default_factory=list)
    interventions: int = 0


@dataclass
class ResetFreeRun:
    """A reset-free run's parts; `episode` until `finished`, then `finish`."""

    config: ResetFreeConfig
    run_dir: Path
    env: object
    eval_env: object
    turns: dict[str, Turn]
    classifiers: dict | None
    checks: SuccessChecks | None
    log: RunLog
    progress: Progress
    say: Callable[[str], None]
    alternation: Alternation = field(default_factory=Alternation)
    fallback: Fallback = field(default_factory=lambda: Fallback(None))
    started: float = field(default_factory=time.time)
    stop_requested: bool = False
    reached: bool = False

    @property
    def finished(self) -> bool:
        return self.progress.total_steps >= self.config.max_env_steps or self.stop_requested or self.reached

    def wall_s(self) -> float:
        return time.time() - self.started

    def episode(self) -> None:
        """One training episode in the next direction, learnt from step by step; an evaluation (and
        a checkpoint) when one is due."""
        direction, options = self.alternation.next_episode()
        options = self.fallback.options(options)
        use_direction(self.env, direction, self.classifiers)
        seed = self.config.seed if self.alternation.episodes == 1 else None
        obs, _ = self.env.reset(seed=seed, options=options)
        turn, steps = self.turns[direction], self.progress.steps
        info, terminated, episode_return = train_episode(self.env, obs, turn, direction, steps, self.checks)
        self.fallback.episode_ended(direction, terminated)  # the episode's own reward: success
        scalars = {"success": float(info.get("success", False)), "return": episode_return}
        if self.checks is not None:
            scalars["checks_asked"] = self.checks.asked[direction]
            scalars["checks_rejected"] = self.checks.rejected[direction]
        self.log.scalars(self.progress.total_steps, scalars, direction)
        if self.progress.total_steps >= self.progress.next_eval:
            self.progress.next_eval += self.config.eval_every
            self.evaluate()

    def _evaluate(self, episodes: int, seed: int) -> dict:
        sampled = self.config.eval_actions == "sampled"
        result = evaluate_alternating(self.eval_env, self.turns, episodes, seed, self.classifiers, sampled)
        result["interventions"] = self.fallback.interventions
        if self.checks is not None:
            result["checks"] = self.checks.counts()
        return result

    def evaluate(self) -> None:
        """A periodic evaluation, reported and checkpointed (a run stopped early still leaves its
        policies, for labelling, and can go on)."""
        total = self.progress.total_steps
        if self.checks is not None:
            self.checks.refresh()
        result = self._evaluate(self.config.eval_episodes, 10_000 + total)
        self.log.evaluation(total, self.wall_s(), result)
        checked = ""
        if self.checks is not None:
            rejected = (f"{d} {self.checks.rejected[d]}/{self.checks.asked[d]}" for d in DIRECTIONS)
            checked = f"; claimed successes rejected: {', '.join(rejected)}"
        self.say(
            f"{total} env steps: forward {result['forward']:.0%}, backward {result['backward']:.0%} "
            f"({self.wall_s():.0f} s{checked})"
        )
        self.progress.recent.append(result["success_rate"])
        self.save()
        self.reached = streak_reached(self.progress.recent, self.config.stop_at_success, 2)

    def save(self) -> None:
        """Each direction's agent and buffers, with the loop's Progress."""
        p = self.progress
        p.episodes, p.wall_s = self.alternation.episodes, self.wall_s()
        p.failures, p.interventions = self.fallback.failures, self.fallback.interventions
        p.objects = object_poses(self.env)
        if self.checks is not None:
            self.checks.save(self.run_dir / "classifiers")
            p.checks = self.checks.counts()
        loop = asdict(p)
        for direction, turn in self.turns.items():
            counters = {"env_steps": p.steps[direction], **turn.counters(), "loop": loop}
            folder = self.run_dir / "checkpoints" / direction
            checkpoint.save(folder, p.steps[direction], turn.learner.state, turn.learner.buffers, counters)

    def finish(self) -> ResetFreeResult:
        """The final evaluation (unless interrupted), a checkpoint, the curve."""
        final = None
        if self.stop_requested:
            self.say("interrupted: checkpointed after the episode under way; go on with --resume")
        else:
            final = self._evaluate(self.config.final_eval_episodes, 50_000)
            self.log.evaluation(self.progress.total_steps, self.wall_s(), {**final, "final": True})
        self.save()
        self.log.plot_curve(f"{self.config.env} reset-free (lower of forward and backward)")
        self.log.close()
        self.env.close()
        self.eval_env.close()
        steps, interventions = self.progress.steps, self.fallback.interventions
        return ResetFreeResult(
            self.run_dir, steps, self.wall_s(), final, self.log.evaluations(), interventions
        )


def _turns(
    config: ResetFreeConfig, spec: EnvSpec, run_dir: Path, demos: dict, resume: bool
) -> dict[str, Turn]:
    """Each direction's Turn (one shared by both with `shared_agent`), new or from its checkpoint."""
    agent_config = SAC_KIND.configure(config.preset, {"bc_weight": config.bc_weight})
    agent = SAC_KIND.build(agent_config, spec)
    saved = {d: checkpoint.latest(run_dir / "checkpoints" / d) if resume else None for d in DIRECTIONS}
    if resume and None in saved.values():
        raise ValueError(
            f"{run_dir} holds no reset-free checkpoint: pass a run folder train-reset-free wrote."
        )
    if config.shared_agent:
        both = [p for p in (demos.get(d) for d in DIRECTIONS) if p is not None]
        return dict.fromkeys(DIRECTIONS, Turn(agent, spec, both, config, config.seed, saved["forward"]))
    return {
        d: Turn(agent, spec, demos.get(d), config, config.seed + 10 * i, saved[d])
        for i, d in enumerate(DIRECTIONS)
    }


def open_reset_free_run(
    config: ResetFreeConfig,
    make_env: Callable[[], object],
    run_dir: Path,
    demos: dict[str, Path | None],
    classifiers: dict | None = None,
    say: Callable[[str], None] = print,
    resume: bool = False,
    classifier_paths: dict | None = None,
    labeller: Labeller | None = None,
    watch: Callable[[object], object] | None = None,
) -> ResetFreeRun:
    """A new reset-free run, or the one in `run_dir` (resume) where it stopped: its agents, buffers,
    counters, the alternation, the fallback's count, the checks and the objects where they were.
    `labeller` checks claimed successes (default: the simulator's flag); `watch(env)` wraps the
    training env (robokit.console.local.Watched: the operator console shows it)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    env, eval_env = make_env(), make_env()
    if watch is not None:
        env = watch(env)
    spec = EnvSpec.from_spaces(env.observation_space, env.action_space)
    turns = _turns(config, spec, run_dir, demos, resume)
    if not resume:
        write_config(
            run_dir, spec, turns["forward"].agent.config, reset_free=config,
            demos={d: str(p) for d, p in demos.items()},
            classifiers={d: p and str(p) for d, p in (classifier_paths or {}).items()},
        )  # fmt: skip
    checks = None
    if config.check_successes:
        if not classifiers:
            raise ValueError(
                "checking claimed successes needs classifier rewards: pass the classifiers, or drop "
                "the checks."
            )
        replay = {d: classifier.training_frames() for d, classifier in classifiers.items()}
        checks = SuccessChecks(classifiers, labeller=labeller or simulator_labeller, replay=replay)
    saved = turns["forward"].loop
    progress = Progress(**saved) if saved else Progress(next_eval=config.eval_every)
    run = ResetFreeRun(
        config, run_dir, env, eval_env, turns, classifiers, checks, RunLog(run_dir), progress, say,
        fallback=Fallback(config.fallback_reset_after), started=time.time() - progress.wall_s,
    )  # fmt: skip
    run.alternation.episodes = progress.episodes
    run.fallback.failures, run.fallback.interventions = progress.failures, progress.interventions
    if progress.objects is not None:  # the scene as the interrupted run left it
        env.unwrapped.task.world.set_free_body_poses(progress.objects)
    if checks is not None and progress.checks is not None:  # the fine-tuned classifiers, every verdict
        checks.load(run_dir / "classifiers", progress.checks)
    return run


def train_reset_free(
    config: ResetFreeConfig, make_env: Callable[[], object], run_dir: Path, demos: dict, **options
) -> ResetFreeResult:
    """Alternate forward and backward episodes until the budget or two evaluations in a row at
    `stop_at_success` in both directions; then evaluate on `final_eval_episodes` fresh alternating
    episodes (the evaluation env's objects are placed once, at its first reset). `options` are
    open_reset_free_run's: classifiers, say, resume, classifier_paths, labeller, watch.

    Ctrl-C (SIGINT) ends the episode under way, checkpoints and returns without the final
    evaluation; `resume=True` goes on from the run's latest checkpoints."""
    run = open_reset_free_run(config, make_env, run_dir, demos, **options)
    previous_handler = signal.signal(signal.SIGINT, lambda *_: setattr(run, "stop_requested", True))
    try:
        while not run.finished:
            run.episode()
    finally:
        signal.signal(signal.SIGINT, previous_handler)
    return run.finish()
