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

import json
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import jax
import numpy as np

from robokit import checkpoint
from robokit.agents.sac import SAC
from robokit.learner import Learner
from robokit.link import InProcessLink
from robokit.policy_io import spec_json
from robokit.run_log import RunLog
from robokit.success_checks import SuccessChecks
from robokit.train_config import PRESETS
from robokit.training import demo_and_online_buffers, learner_setup, streak_reached
from robokit.types import EnvSpec

DIRECTIONS = ("forward", "backward")


class Alternation:
    """Forward, backward, forward, ...: the direction of each episode and its reset options. Only
    the very first reset places the objects; every later one keeps them where they are."""

    def __init__(self) -> None:
        self.episodes = 0

    def next_episode(self) -> tuple[str, dict]:
        direction = DIRECTIONS[self.episodes % len(DIRECTIONS)]
        options = {"direction": direction, "keep_objects": self.episodes > 0}
        self.episodes += 1
        return direction, options


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
    `robokit.success_checks`); a rejected claim earns nothing, and at each evaluation the
    classifiers are fine-tuned on the verdicts so far."""
    seed: int = 0


@dataclass
class ResetFreeResult:
    run_dir: Path
    env_steps: dict[str, int]
    wall_s: float
    final_eval: dict
    evals: list = field(default_factory=list)
    interventions: int = 0


class Fallback:
    """Counts backward episodes in a row that failed; says when the next reset must place objects."""

    def __init__(self, after: int | None):
        self.after, self.failures, self.interventions = after, 0, 0

    def episode_ended(self, direction: str, succeeded: bool) -> None:
        if direction == "backward":
            self.failures = 0 if succeeded else self.failures + 1

    def options(self, options: dict) -> dict:
        """`options` of the next reset, with the objects placed if it is time to intervene."""
        if self.after is None or options["direction"] != "forward" or self.failures < self.after:
            return options
        self.failures, self.interventions = 0, self.interventions + 1
        return {**options, "keep_objects": False}


class Turn:
    """One direction's agent, learner and buffers; from demos, or from its checkpoint (`restore`)."""

    def __init__(
        self,
        agent: SAC,
        spec: EnvSpec,
        demos,
        config: ResetFreeConfig,
        seed: int,
        restore: Path | None = None,
    ):
        self.agent, self.link = agent, InProcessLink()
        counters = {}
        if restore is None:
            # (the last episode may run past the budget)
            buffers, mean, std = demo_and_online_buffers(spec, config.max_env_steps + 1_000, demos)
            state = agent.init(jax.random.PRNGKey(seed), mean, std)
        else:
            template = agent.init(jax.random.PRNGKey(seed))
            state, buffers, counters = checkpoint.restore(restore, template, spec)
            if "loop" not in counters:
                raise ValueError(
                    f"{restore} was written before reset-free runs could resume: start a new run."
                )
        learner_config, ratios = learner_setup(agent.config, config.start_after, buffers, config.demo_ratio)
        self.learner = Learner(agent, state, buffers, ratios, self.link, learner_config, seed=seed)
        self.rng, self.key = np.random.default_rng(seed), jax.random.PRNGKey(seed + 1)
        if counters:
            self.learner.env_steps = self.learner.transitions = counters["learner_env_steps"]
            self.learner.updates = counters["updates"]
            self.learner.rng = checkpoint.rng_from_state(counters["learner_rng"])
            self.rng = checkpoint.rng_from_state(counters["explore_rng"])
            self.key = jax.numpy.asarray(counters["key"], dtype=jax.numpy.uint32)
        self.loop = counters.get("loop")
        """The loop's own state when restored (see `_save`)."""

    def counters(self) -> dict:
        return {
            "learner_env_steps": self.learner.env_steps,
            "updates": self.learner.updates,
            "learner_rng": checkpoint.rng_state(self.learner.rng),
            "explore_rng": checkpoint.rng_state(self.rng),
            "key": np.asarray(self.key).tolist(),
        }

    def start_episode(self) -> None:
        """Called before each of this agent's episodes (a policy with memory would reset it here)."""

    def act(self, obs: dict, explore: bool = True) -> np.ndarray:
        if explore and not self.learner.ready:
            return self.rng.uniform(-1.0, 1.0, self.agent.spec.action_dim).astype(np.float32)
        self.key, sub = jax.random.split(self.key)
        params = self.agent.policy_params(self.learner.state)
        batched = {k: v[None] for k, v in obs.items()}
        return np.asarray(self.agent.act(params, batched, sub, explore=explore))[0]

    def learn(self, transition: dict) -> None:
        self.link.send("transitions", [transition])
        self.learner.ingest()
        if self.learner.ready:
            self.learner.update()


def use_direction(env, direction: str, classifiers: dict | None) -> None:
    """Reward the next episode by this direction's classifier (when rewards come from classifiers)."""
    if classifiers:
        env.classifier = classifiers[direction]


def evaluate_alternating(env, turns: dict[str, Turn], episodes: int, seed: int, classifiers=None) -> dict:
    """Deterministic policies on `episodes` alternating episodes; only the first places the objects.
    Success is the env's own `success` info (the simulator's truth) at each episode's end."""
    alternation = Alternation()
    outcomes: dict[str, list[bool]] = {d: [] for d in DIRECTIONS}
    returns = []
    for i in range(episodes):
        direction, options = alternation.next_episode()
        use_direction(env, direction, classifiers)
        obs, info = env.reset(seed=seed if i == 0 else None, options=options)
        turns[direction].start_episode()
        done, total = False, 0.0
        while not done:
            obs, reward, terminated, truncated, info = env.step(turns[direction].act(obs, explore=False))
            done, total = terminated or truncated, total + float(reward)
        outcomes[direction].append(bool(info.get("success", False)))
        returns.append(total)
    rates = {d: float(np.mean(v)) if v else 0.0 for d, v in outcomes.items()}
    return {
        **rates,
        "success_rate": min(rates.values()),
        "return": float(np.mean(returns)),
        "episodes": episodes,
    }


def _save(run_dir: Path, turns: dict[str, Turn], loop: dict) -> None:
    """Each direction's agent and buffers, with the loop's state (step counts, the alternation, the
    fallback's count, evaluations, and where the objects are) so that `resume` goes on from here."""
    for direction, turn in turns.items():
        counters = {"env_steps": loop["steps"][direction], **turn.counters(), "loop": loop}
        checkpoint.save(
            run_dir / "checkpoints" / direction, loop["steps"][direction], turn.learner.state,
            turn.learner.buffers, counters,
        )  # fmt: skip


def _object_poses(env) -> list | None:
    """Where a simulated scene's objects are (None on a real arm: they stay where they physically are)."""
    world = getattr(env.unwrapped.task, "world", None)
    return None if world is None else world.free_body_poses()


def _episode(
    env, obs: dict, turn: Turn, direction: str, steps: dict[str, int], checks: SuccessChecks | None = None
) -> tuple[dict, bool, float]:
    """One training episode from `obs`, each step learnt from at once; its last info, whether it
    terminated (its reward's success) and its return. Counts its steps into `steps`. With `checks`,
    a success the classifier claims is learnt from only if the labeller confirms it; a rejected one
    ends the episode unrewarded and not terminal."""
    turn.start_episode()
    done, episode_return, terminated = False, 0.0, False
    while not done:
        action = turn.act(obs)
        next_obs, reward, terminated, truncated, info = env.step(action)
        claimed = terminated and info.get("classifier_success", False)
        if checks is not None and claimed and not checks.check(direction, env.frames, info):
            reward, terminated, truncated = 0.0, False, True
        turn.learn(
            {
                "observations": obs,
                "actions": action,
                "rewards": float(reward),
                "terminated": bool(terminated),
                "truncated": bool(truncated),
                "next_observations": next_obs,
            }
        )
        steps[direction] += 1
        episode_return += float(reward)
        obs, done = next_obs, terminated or truncated
    return info, bool(terminated), episode_return


def train_reset_free(
    config: ResetFreeConfig,
    make_env: Callable[[], object],
    run_dir: Path,
    demos: dict[str, Path | None],
    classifiers: dict | None = None,
    say: Callable[[str], None] = print,
    resume: bool = False,
    classifier_paths: dict | None = None,
) -> ResetFreeResult:
    """Alternate forward and backward episodes until the budget or two evaluations in a row at
    `stop_at_success` in both directions; then evaluate on `final_eval_episodes` fresh alternating
    episodes (the evaluation env's objects are placed once, at its first reset).

    Ctrl-C (SIGINT) ends the episode under way, checkpoints and returns without the final
    evaluation; `resume=True` goes on from the run's latest checkpoints: agents, buffers, counters,
    the alternation and the objects where they were."""
    started = time.time()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    env, eval_env = make_env(), make_env()
    spec = EnvSpec.from_spaces(env.observation_space, env.action_space)
    agent_config = replace(PRESETS[config.preset], bc_weight=config.bc_weight)
    agent = SAC(agent_config, spec)
    saved = {d: checkpoint.latest(run_dir / "checkpoints" / d) if resume else None for d in DIRECTIONS}
    if resume and None in saved.values():
        raise ValueError(
            f"{run_dir} holds no reset-free checkpoint: pass a run folder train-reset-free wrote."
        )
    if config.shared_agent:
        both = [p for p in (demos.get(d) for d in DIRECTIONS) if p is not None]
        turns = dict.fromkeys(DIRECTIONS, Turn(agent, spec, both, config, config.seed, saved["forward"]))
    else:
        turns = {
            d: Turn(agent, spec, demos.get(d), config, config.seed + 10 * i, saved[d])
            for i, d in enumerate(DIRECTIONS)
        }
    if not resume:
        resolved = {
            "reset_free": asdict(config),
            "agent": asdict(agent_config),
            "spec": spec_json(spec),
            "demos": {d: str(p) for d, p in demos.items()},
            "classifiers": {d: p and str(p) for d, p in (classifier_paths or {}).items()},
        }
        (run_dir / "config.json").write_text(json.dumps(resolved, indent=2, default=str))
    checks = None
    if config.check_successes:
        if not classifiers:
            raise ValueError(
                "checking claimed successes needs classifier rewards: pass the classifiers, or drop "
                "the checks."
            )
        replay = {d: classifier.training_frames() for d, classifier in classifiers.items()}
        checks = SuccessChecks(classifiers, replay=replay)
    log = RunLog(run_dir)
    alternation, fallback = Alternation(), Fallback(config.fallback_reset_after)
    loop = turns["forward"].loop or {
        "steps": {d: 0 for d in DIRECTIONS},
        "episodes": 0,
        "failures": 0,
        "interventions": 0,
        "recent": [],
        "next_eval": config.eval_every,
        "wall_s": 0.0,
    }
    steps = loop["steps"]
    alternation.episodes = loop["episodes"]
    fallback.failures, fallback.interventions = loop["failures"], loop["interventions"]
    if loop.get("objects") is not None:  # the scene as the interrupted run left it
        env.unwrapped.task.world.set_free_body_poses(loop["objects"])
    if checks is not None and "checks" in loop:  # the fine-tuned classifiers and every verdict
        checks.load(run_dir / "classifiers", loop["checks"])
    started -= loop["wall_s"]

    def save() -> None:
        loop.update(
            episodes=alternation.episodes, failures=fallback.failures, interventions=fallback.interventions,
            wall_s=time.time() - started, objects=_object_poses(env),
        )  # fmt: skip
        if checks is not None:
            checks.save(run_dir / "classifiers")
            loop["checks"] = checks.counts()
        _save(run_dir, turns, loop)

    stop = {"requested": False}
    previous_handler = signal.signal(signal.SIGINT, lambda *_: stop.update(requested=True))
    try:
        recent = loop["recent"]
        while sum(steps.values()) < config.max_env_steps and not stop["requested"]:
            direction, options = alternation.next_episode()
            options = fallback.options(options)
            use_direction(env, direction, classifiers)
            obs, _ = env.reset(seed=config.seed if alternation.episodes == 1 else None, options=options)
            info, terminated, episode_return = _episode(env, obs, turns[direction], direction, steps, checks)
            fallback.episode_ended(direction, terminated)  # the episode's own reward: success
            total = sum(steps.values())
            scalars = {"success": float(info.get("success", False)), "return": episode_return}
            if checks is not None:
                scalars["checks_asked"] = checks.asked[direction]
                scalars["checks_rejected"] = checks.rejected[direction]
            log.scalars(total, scalars, direction)
            if total >= loop["next_eval"]:
                loop["next_eval"] += config.eval_every
                if checks is not None:
                    checks.refresh()
                result = evaluate_alternating(
                    eval_env, turns, config.eval_episodes, 10_000 + total, classifiers
                )
                result["interventions"] = fallback.interventions
                if checks is not None:
                    result["checks"] = checks.counts()
                log.evaluation(total, time.time() - started, result)
                checked = ""
                if checks is not None:
                    rejected = (f"{d} {checks.rejected[d]}/{checks.asked[d]}" for d in DIRECTIONS)
                    checked = f"; claimed successes rejected: {', '.join(rejected)}"
                say(
                    f"{total} env steps: forward {result['forward']:.0%}, backward {result['backward']:.0%} "
                    f"({time.time() - started:.0f} s{checked})"
                )
                recent.append(result["success_rate"])
                save()  # a run stopped early still leaves its policies (for labelling), and can go on
                if streak_reached(recent, config.stop_at_success, 2):
                    break
    finally:
        signal.signal(signal.SIGINT, previous_handler)
    final = None
    if stop["requested"]:
        say("interrupted: checkpointed after the episode under way; go on with --resume")
    else:
        final = evaluate_alternating(eval_env, turns, config.final_eval_episodes, 50_000, classifiers)
        final["interventions"] = fallback.interventions
        if checks is not None:
            final["checks"] = checks.counts()
        log.evaluation(sum(steps.values()), time.time() - started, {**final, "final": True})
    save()
    log.plot_curve(f"{config.env} reset-free (lower of forward and backward)")
    log.close()
    env.close()
    eval_env.close()
    return ResetFreeResult(
        run_dir, steps, time.time() - started, final, log.evaluations(), fallback.interventions
    )
