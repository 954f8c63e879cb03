"""`robokit record`: scripted-expert demos, labelled frames for classifiers, a policy's episodes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from robokit.cli.common import new_folder
from robokit.console.flags import ConsoleFlags


@dataclass(frozen=True)
class Record(ConsoleFlags):
    """Record scripted-expert episodes of a simulated task as a Minari dataset, and print the success rate."""

    env: str = "PickCube-v0"
    """Task id, e.g. PickCube-v0, PegInsertVision-v0 (the 'robokit/' prefix is optional)."""
    episodes: int = 20
    """Number of episodes to record (successful ones with --successes-only)."""
    out: Path | None = None
    """Dataset folder to create; must not exist. Default: data/<env>-<date>-<time>."""
    successes_only: bool = False
    """Keep successful episodes only."""
    seed: int = 0
    """Seed of the first episode; episode i uses seed + i."""
    noise: float = 0.0
    """Std of Gaussian noise added to the expert's displacement actions (in action units)."""
    camera_size: int = 128
    """Image side in pixels for Vision tasks."""
    frames: bool = False
    """Record labelled frames for a reward classifier (Vision tasks): episodes run on past success,
    the expert's noise varies episode by episode, every frame keeps the simulator's success label."""
    direction: Literal["forward", "backward"] | None = None
    """Relocate only: 'forward' (region A to B) or 'backward' (B to A, the reset task)."""
    scattered: bool = False
    """Relocate only, with --direction: the cube starts anywhere on the tray outside the goal (where
    reset-free episodes start) instead of in the start region."""
    config: Path | None = None
    """Record on the real robot this YAML file describes (with --frames): an operator labels frames
    with key presses while the arm moves (s = success, f = failure, n = next episode, q = quit)."""
    policy: Path | None = None
    """A trained run whose policy acts instead of the expert (with --frames: the policy's own mistakes
    become labelled failures, the hard negatives a classifier needs); of a reset-free run, the
    --direction agent. With --config it moves the real arm (default there: slow random wandering)."""
    explore: bool = False
    """With --policy: sample its actions as in training (more varied frames) instead of its mean."""
    instructed: bool = False
    """PackCubes, PickCube, Relocate: instruction-annotated demos (each observation carries the
    embedding of the instruction its action follows; needs the language extra); the embeddings go to
    OUT-instructions.npz beside the dataset."""
    aim_error: float = 0.0
    """With --instructed: the expert's pick misses by 1-2 times this (m), as an imperfect policy
    does, and a simulated operator corrects it (the demos then teach the fine corrections)."""
    practice: float = 0.0
    """With --instructed: at this rate per step a random fine correction ("move a bit to the left",
    ...) is said too, so that the demos teach each of them in the task's states."""
    mixed_order: bool = False
    """With --instructed, PackCubes: each episode packs the cubes in an order drawn at random."""
    mixed_quality: bool = False
    """PickCube, Relocate: offline data of state-dependent quality, for `robokit pretrain --algo
    famo2o`: per episode the scripted expert, a noisy or wrong-way expert or random actions, drawn
    from a good mix when the object starts on the left half of its start area, a poor mix on the
    right (robokit/envs/mixed_quality.py)."""
    alternate: bool = False
    """With --frames and a reset-free run as --policy: its forward and backward agents take turns,
    objects placed once (the states reset-free training visits, where a classifier's false successes
    get exploited); writes OUT/forward and OUT/backward."""


def _direction_kwargs(env_id: str, direction: str | None, scattered: bool = False) -> dict:
    if direction is None:
        if scattered:
            raise ValueError("--scattered places Relocate's cube for one direction: add --direction.")
        return {}
    if "Relocate" not in env_id:
        raise ValueError(f"--direction applies to Relocate only, not {env_id}: drop it.")
    return {"task_kwargs": {"direction": direction, "scatter": scattered}}


def _twin_kwargs(env_id: str, policy_env: str | None) -> dict:
    """A state policy recording frames on a Vision twin keeps the object features it reads."""
    if policy_env is not None and "Vision" in env_id and "Vision" not in policy_env:
        return {"privileged_state": True}
    return {}


def _record_alternating(args: Record, env_id: str, console) -> None:
    import dataclasses

    from robokit.envs.recording import record_alternating_frames

    if not args.frames or args.policy is None or args.direction is not None:
        raise ValueError(
            "--alternate records frames of a reset-free run: add --frames --policy RUN, no --direction."
        )
    policies, policy_env = {}, None
    for direction in ("forward", "backward"):
        policies[direction], policy_env = _policy_driver(dataclasses.replace(args, direction=direction))
    out = args.out or new_folder(
        Path("data") / f"{env_id.split('/')[1]}-alternating-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    kwargs = _twin_kwargs(env_id, policy_env)

    def progress(direction: str, episode) -> None:
        console.print(
            f"{direction:8s} episode: {int(episode.infos['success'].sum())} of {len(episode) + 1} "
            "frames labelled success"
        )

    paths = record_alternating_frames(
        env_id, policies, args.episodes, out, seed=args.seed, camera_size=args.camera_size,
        on_episode=progress, env_kwargs=kwargs,
    )  # fmt: skip
    for direction, path in paths.items():
        console.print(f"{direction}: {path if path else 'nothing recorded'}")


def _record_instructed(args: Record, env_id: str, console) -> None:
    from robokit.language.encoder import EmbeddingTable, require_language, table_beside

    require_language()
    from robokit.envs.instructed_demos import record_instructed

    if not args.instructed or args.policy or args.frames or args.successes_only:
        raise ValueError(
            "--aim-error, --practice and --mixed-order go with --instructed, which records the expert's "
            "episodes as is."
        )
    out = args.out or new_folder(
        Path("data") / f"{env_id.split('/')[1]}-instructed-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    table = EmbeddingTable.open(table_beside(out))
    summary = record_instructed(
        env_id, args.episodes, out, table, args.seed, args.aim_error,
        noise=args.noise, practice=args.practice, mixed_order=args.mixed_order,
    )  # fmt: skip
    console.print(
        f"[bold]{env_id}[/bold] instructed expert: {summary.successes}/{summary.episodes} successes, "
        f"{summary.corrections} corrected steps\ndataset: {summary.path}; embeddings: {table.path}"
    )


def _policy_driver(args: Record):
    """(obs -> action, env id) of the run in --policy ((None, None) without one); the policy sees
    only the observation keys it was trained on (a state policy can drive a Vision twin that keeps
    the object features)."""
    if args.policy is None:
        return None, None
    import jax
    import numpy as np

    from robokit.runs.policy import load_policy

    loaded = load_policy(args.policy, args.direction)
    agent, params, policy_env = loaded.agent, loaded.params, loaded.env_id
    if loaded.chunk is not None:
        raise ValueError(
            f"{args.policy} holds a flow policy, which acts in chunks: record with a SAC policy or "
            "without --policy."
        )
    shapes = {key: shape for key, shape, _ in agent.spec.observations}
    keys, state = agent.spec.observation_keys, {"key": jax.random.PRNGKey(args.seed)}

    def policy(obs):
        missing = [k for k in keys if k not in obs or obs[k].shape != shapes[k]]
        if missing:
            raise ValueError(
                f"{args.policy}'s policy reads {', '.join(missing)}, which this env does not give in "
                "that shape: record on the task it was trained on (or its Vision twin)."
            )
        state["key"], sub = jax.random.split(state["key"])
        batched = {k: obs[k][None] for k in keys}
        return np.asarray(agent.act(params, batched, sub, explore=args.explore))[0]

    return policy, policy_env


def _record_real(args: Record, console) -> None:
    from robokit.envs.labelling import KeyLabels, record_labelled_real_frames
    from robokit.envs.real import make_real_env

    if not args.frames:
        raise ValueError("on the real robot `robokit record` records labelled frames: add --frames.")
    if args.alternate:
        raise ValueError(
            "--alternate runs in simulation only: on the real arm record each direction with "
            "--policy RUN --direction forward|backward."
        )
    out = args.out or new_folder(Path("data") / f"real-frames-{time.strftime('%Y%m%d-%H%M%S')}")
    page = args.console_options()  # a missing extra or token: one sentence, before the arm moves
    policy, _ = _policy_driver(args)
    env = make_real_env(args.config, terminate_on_success=False)
    labels, server = KeyLabels(), None
    try:
        if page is not None:  # the page's Success / Failure label the frames as s / f do; Stop is q
            from robokit.console.local import serve_local

            # the page's commands are logged in console/interventions.jsonl beside the dataset
            server, watch = serve_local(page, out.parent, None, console.print, labels, labels.stop)
            env = watch(env)
        path = record_labelled_real_frames(env, args.episodes, out, labels, policy, say=console.print)
    finally:
        labels.close()
        env.close()
        if server is not None:
            server.close()
    console.print(f"dataset: {path}" if path else "nothing was recorded, so no dataset was written")


def _record_mixed_quality(args: Record, env_id: str, console) -> None:
    from robokit.envs.mixed_quality import record_mixed_quality

    if args.successes_only or args.frames or args.policy or args.noise or args.direction:
        raise ValueError(
            "--mixed-quality draws its own behaviours per episode: drop --successes-only, --frames, "
            "--policy, --noise and --direction."
        )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = args.out or new_folder(Path("data") / f"{env_id.split('/')[1]}-mixed-{stamp}")
    console.print(f"recording {args.episodes} mixed-quality episodes of {env_id}")
    summary = record_mixed_quality(env_id, args.episodes, out, seed=args.seed)
    success = ", ".join(f"{half} half {rate:.0%}" for half, rate in summary.success_by_half.items())
    console.print(f"success by start half: {success}; behaviours: {summary.counts}")
    console.print(f"dataset: {summary.path} ({summary.episodes} episodes)")


def run(args: Record) -> None:
    from rich.console import Console

    from robokit.envs.recording import record_expert
    from robokit.envs.registration import check_env_id

    console = Console()
    if args.config is not None:
        return _record_real(args, console)
    if args.console is not None:
        raise ValueError(
            "--console labels frames on the real arm (with --config); in simulation the simulator "
            "labels them: drop --console."
        )
    env_id = check_env_id(args.env)
    if args.alternate:
        return _record_alternating(args, env_id, console)
    if args.instructed or args.aim_error or args.practice or args.mixed_order:
        return _record_instructed(args, env_id, console)
    if args.mixed_quality:
        return _record_mixed_quality(args, env_id, console)
    out = args.out or new_folder(Path("data") / f"{env_id.split('/')[1]}-{time.strftime('%Y%m%d-%H%M%S')}")
    done = []
    policy, policy_env = _policy_driver(args)
    env_kwargs = _direction_kwargs(env_id, args.direction, args.scattered) | _twin_kwargs(env_id, policy_env)

    def progress(episode) -> None:
        done.append(episode.success)
        console.print(
            f"episode {len(done):4d}: {'success' if episode.success else 'failure'} in {len(episode)} steps"
        )

    summary = record_expert(
        env_id,
        args.episodes,
        out,
        successes_only=args.successes_only,
        seed=args.seed,
        noise=args.noise,
        camera_size=args.camera_size,
        on_episode=progress,
        env_kwargs=env_kwargs,
        frames=args.frames,
        policy=policy,
    )
    if summary.interrupted:
        console.print("[yellow]interrupted: saving the episodes recorded so far[/yellow]")
    console.print(
        f"[bold]{env_id}[/bold] {'policy' if args.policy else 'scripted expert'}: success rate "
        f"{summary.success_rate:.1%} ({summary.successes}/{summary.attempts} episodes)"
    )
    if summary.path is None:
        console.print("nothing was recorded, so no dataset was written")
    else:
        console.print(f"dataset: {summary.path} ({summary.recorded} episodes)")
    if summary.recorded < args.episodes and not summary.interrupted:
        raise RuntimeError(
            f"only {summary.recorded} of {args.episodes} episodes were successful within "
            f"{summary.attempts} attempts: lower --noise or drop --successes-only."
        )
