"""`robokit train-reset-free`: forward and backward episodes take turns on Relocate, no object resets."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from robokit.console.flags import ConsoleFlags


@dataclass(frozen=True)
class TrainResetFree(ConsoleFlags):
    """Reset-free training: forward and backward episodes alternate on Relocate, each starting
    where the last one left the cube; nothing places the cube after the first reset."""

    forward_classifier: Path | None = None
    """Reward classifier of the forward task (cube in region B); default: the simulator's success."""
    backward_classifier: Path | None = None
    """Reset classifier (cube back in region A); default: the simulator's success."""
    env: str = "Relocate-v0"
    num_demos: int = 20
    """Scripted-expert demos recorded per direction."""
    demo_starts: Literal["scattered", "regions"] = "scattered"
    """Where the demos' cube starts: anywhere on the tray (an episode starts wherever the last
    one left the cube) or only in the direction's start region."""
    fallback_reset_after: int | None = None
    """Place the cube by script (a person, on a real arm) before a forward episode once this many
    backward episodes in a row have failed; counted and reported. Default: never."""
    shared_agent: bool = True
    """One goal-conditioned agent for both directions (the goal is in the observation), learning
    from both directions' demos and episodes; --no-shared-agent: a forward and a backward agent."""
    check_successes: bool = False
    """Show each success a classifier claims in training to a labeller (in simulation the
    simulator's success flag stands in for the operator): a rejected claim earns no reward and
    becomes a hard negative that the classifier is fine-tuned on at each evaluation. Needs the
    classifiers."""
    labeller: Literal["simulator", "operator"] = "simulator"
    """Who checks a claimed success: the simulator's success flag, or a person (the operator
    console's Success / Failure buttons with --console PORT, or s / f in this terminal)."""
    verdict_wait_s: float | None = None
    """--labeller operator: a claim nobody answers within this long counts as rejected (default:
    wait for the answer)."""
    bc_weight: float = 0.5
    """Behaviour-cloning weight on the demo rows in the actor loss; 0: RLPD's actor loss alone (which
    did not learn reset-free here: no online episode succeeded, so nothing kept the actor near the
    demos)."""
    max_env_steps: int | None = None
    """Env steps of both directions together; default 60,000 (with --resume: the run's own)."""
    stop_at_success: float | None = 0.9
    eval_every: int = 2_000
    final_eval_episodes: int = 50
    """Alternating episodes of the final evaluation (the objects are placed once, before the first)."""
    eval_actions: Literal["mean", "sampled"] = "mean"
    """Evaluations act with the policies' mean actions, or with actions sampled from them as in
    training (`robokit train --eval-actions`)."""
    seed: int = 0
    run_dir: Path | None = None
    resume: Path | None = None
    """Go on with this run (Ctrl-C checkpoints one): its agents, buffers, counters, classifiers and
    scene; of this command's options only --max-env-steps, --stop-at-success and
    --final-eval-episodes apply."""


def run(args: TrainResetFree) -> None:
    from rich.console import Console

    from robokit.envs.registration import check_env_id
    from robokit.recipes.reset_free import DIRECTIONS, train_reset_free
    from robokit.runs.folder import fresh_run_dir

    console = Console()
    env_id = check_env_id(args.env)
    given = _check(args, env_id)
    if args.resume is not None:
        config, given, demos, run_dir = _resumed(args, given)
    else:
        run_dir = fresh_run_dir(args.run_dir or Path("runs") / f"reset-free-{time.strftime('%Y%m%d-%H%M%S')}")
        config = _new_config(args, env_id)
    classifiers = None
    if given["forward"] is not None:
        from robokit.rewards.classifier import RewardClassifier

        classifiers = {d: RewardClassifier.load(given[d]) for d in DIRECTIONS}
    make_env = _env_factory(config.env, classifiers)
    if args.resume is None:
        demos = _record_demos(args, env_id, run_dir, make_env, classifiers is not None, console)
    reward = "classifier" if classifiers else "simulator"
    console.print(
        f"reset-free training on {config.env} ({reward} rewards); objects are placed once, at the start"
    )
    resume = args.resume is not None
    options = {"classifiers": classifiers, "say": console.print, "resume": resume, "classifier_paths": given}
    with _operator(args, run_dir, console.print) as (labeller, watch):
        result = train_reset_free(config, make_env, run_dir, demos, labeller=labeller, watch=watch, **options)
    _report(config, result, console)


@contextlib.contextmanager
def _operator(args: TrainResetFree, run_dir: Path, say):
    """(labeller, watch) for the run: the operator's verdicts (console buttons and keys) with
    --labeller operator, the console's view of the training env with --console; (None, None)
    without them."""
    page = args.console_options()  # a missing extra or token: one sentence, before any work
    verdicts = keys = server = None
    if args.labeller == "operator":
        from robokit.envs.labelling import KeyLabels
        from robokit.rewards.operator_verdicts import OperatorVerdicts

        verdicts = OperatorVerdicts(say, args.verdict_wait_s)
        keys = KeyLabels(on_key=lambda key: key in "sf" and verdicts.give(key == "s"))
    watch = None
    try:
        if page is not None:
            from robokit.console.local import serve_local

            server, watch = serve_local(page, run_dir, verdicts, say)
        yield verdicts, watch
    finally:
        if server is not None:
            server.close()
        if keys is not None:
            keys.close()


def _check(args: TrainResetFree, env_id: str) -> dict:
    """The classifier paths given ({direction: path or None}); one sentence for what does not fit."""
    if "Relocate" not in env_id:
        raise ValueError(
            f"reset-free training needs a task with a reset task: use Relocate-v0, not {env_id}."
        )
    given = {"forward": args.forward_classifier, "backward": args.backward_classifier}
    if (given["forward"] is None) != (given["backward"] is None):
        raise ValueError("pass both --forward-classifier and --backward-classifier, or neither.")
    if args.labeller == "operator" and not args.check_successes:
        raise ValueError("--labeller operator checks claimed successes: add --check-successes.")
    if args.check_successes and given["forward"] is None and args.resume is None:
        raise ValueError(
            "--check-successes checks what reward classifiers claim: pass --forward-classifier and "
            "--backward-classifier too."
        )
    return given


def _new_config(args: TrainResetFree, env_id: str):
    from robokit.recipes.reset_free import ResetFreeConfig

    return ResetFreeConfig(
        env=env_id,
        max_env_steps=args.max_env_steps or ResetFreeConfig.max_env_steps,
        stop_at_success=args.stop_at_success,
        eval_every=args.eval_every,
        final_eval_episodes=args.final_eval_episodes,
        eval_actions=args.eval_actions,
        shared_agent=args.shared_agent,
        bc_weight=args.bc_weight,
        fallback_reset_after=args.fallback_reset_after,
        check_successes=args.check_successes,
        seed=args.seed,
    )


def _env_factory(env_id: str, classifiers: dict | None):
    """make_env(direction, scatter): Relocate rewarded by the simulator or the direction's classifier."""
    from robokit.envs.registration import make

    def make_env(direction: str = "forward", scatter: bool = False):
        kwargs = {"task_kwargs": {"direction": direction, "scatter": scatter}}
        if classifiers is None:
            return make(env_id, **kwargs)
        from robokit.envs.rewarded import make_classifier_rewarded

        return make_classifier_rewarded(env_id, classifiers[direction], **kwargs)

    return make_env


def _record_demos(
    args: TrainResetFree, env_id: str, run_dir: Path, make_env, classified: bool, console
) -> dict:
    """Scripted-expert demos of each direction, recorded through the run's own rewards."""
    from robokit.envs.recording import record_expert
    from robokit.recipes.reset_free import DIRECTIONS

    demos = {}
    for direction in DIRECTIONS:
        out = run_dir / "demos" / direction
        console.print(f"recording {args.num_demos} scripted-expert {direction} demos into {out}")
        scatter = args.demo_starts == "scattered"
        summary = record_expert(
            env_id, args.num_demos, out, successes_only=True,
            make_env=lambda d=direction, s=scatter: make_env(d, s),
        )  # fmt: skip
        demos[direction] = _demo_path(summary, direction, classified)
    return demos


def _report(config, result, console) -> None:
    from robokit.recipes.reset_free import DIRECTIONS

    final = result.final_eval
    if final is None:  # interrupted
        console.print(f"run: {result.run_dir}; go on with robokit train-reset-free --resume {result.run_dir}")
        return
    console.print(
        f"[bold]{config.env} reset-free[/bold]: forward {final['forward']:.0%}, "
        f"backward {final['backward']:.0%} "
        f"over {final['episodes']} alternating episodes (objects placed once"
        f"{', sampled actions' if final.get('actions') == 'sampled' else ''}); "
        f"{sum(result.env_steps.values())} env steps "
        f"({result.env_steps['forward']} forward, {result.env_steps['backward']} backward), "
        f"{result.interventions} scripted placements in training, {result.wall_s / 60:.1f} min"
    )
    if "checks" in final:
        checks = final["checks"]
        console.print(
            "claimed successes checked in training: "
            + ", ".join(f"{d} {checks['rejected'][d]} of {checks['asked'][d]} rejected" for d in DIRECTIONS)
            + "; fine-tuned: "
            + ", ".join(f"{d} {checks['fine_tuned'][d]} times" for d in DIRECTIONS)
            + " (run/classifiers)"
        )
    console.print(f"run: {result.run_dir} (curve.png, evals.jsonl, checkpoints/forward|backward)")


def _resumed(args: TrainResetFree, given: dict):
    """The config, classifier paths, demos and folder of the run `--resume` names."""
    import dataclasses
    import json

    from robokit.recipes.reset_free import ResetFreeConfig

    run_dir = Path(args.resume).absolute()
    if not (run_dir / "config.json").is_file():
        raise ValueError(f"{run_dir} holds no reset-free run: pass a folder train-reset-free wrote.")
    if given["forward"] is not None:
        raise ValueError(
            "--resume uses the run's own classifiers: drop --forward- and --backward-classifier."
        )
    saved = json.loads((run_dir / "config.json").read_text())
    if "reset_free" not in saved:
        raise ValueError(f"{run_dir} holds a `robokit train` run: resume it with robokit train --resume.")
    config = ResetFreeConfig(**saved["reset_free"])
    budget = {"stop_at_success": args.stop_at_success, "final_eval_episodes": args.final_eval_episodes}
    if args.max_env_steps is not None:
        budget["max_env_steps"] = args.max_env_steps
    config = dataclasses.replace(config, **budget)
    classifiers = saved.get("classifiers") or {}
    demos = {d: Path(p) for d, p in saved["demos"].items()}
    return (
        config,
        {d: classifiers.get(d) and Path(classifiers[d]) for d in ("forward", "backward")},
        demos,
        run_dir,
    )


def _demo_path(summary, direction: str, classified: bool) -> Path:
    """The recorded demos' folder; one sentence when not one of the expert's episodes succeeded."""
    if summary.path is None:
        why = (
            "the reward classifier ended each early or never (check its false successes and misses)"
            if classified
            else "check the task"
        )
        raise RuntimeError(
            f"none of {summary.attempts} scripted-expert {direction} episodes ended in success, so "
            f"there are no {direction} demos: {why}."
        )
    return summary.path
