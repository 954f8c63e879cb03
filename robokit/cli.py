"""`robokit <verb>`: the command line. The only core module that wires in robokit.envs."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import tyro

from robokit import classifier_cli, flow_cli, reset_free_cli
from robokit.classifier_cli import TrainClassifier
from robokit.reset_free_cli import TrainResetFree
from robokit.train_config import TrainConfig

REAL_CLASSIFIER = (
    "on the real robot the classifier belongs in the config: task: {name: classifier, classifier: "
    "DIR}; drop --reward-classifier."
)


@dataclass(frozen=True)
class Record:
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
    alternate: bool = False
    """With --frames and a reset-free run as --policy: its forward and backward agents take turns,
    objects placed once (the states reset-free training visits, where a classifier's false successes
    get exploited); writes OUT/forward and OUT/backward."""


@dataclass(frozen=True)
class Eval:
    """Evaluate a trained run's latest checkpoint deterministically on fresh episodes."""

    run: Path
    """Run folder written by `robokit train`."""
    episodes: int = 50
    seed: int = 50_000
    """Seed of the first episode; episode i uses seed + i."""
    video: Path | None = None
    """Write the episodes' front-camera frames to this .mp4 (or .gif) file."""
    config: Path | None = None
    """Run the policy on the real robot this YAML file describes (no learning) instead of in simulation."""


@dataclass(frozen=True)
class FindCameras:
    """List the RealSense cameras connected to this machine (serial, name, firmware, USB type)."""


@dataclass(frozen=True)
class RobotCheck:
    """Check a real robot setup: connect, read, home, move 1 cm and back, time the control loop,
    read every camera."""

    config: Path
    """YAML file describing the robot, cameras and task (see robokit/envs/real.py)."""


@dataclass(frozen=True)
class Bench:
    """Measure robokit's speed and print a table (or JSON lines with --json)."""

    what: Annotated[Literal["env", "learner", "link"], tyro.conf.Positional]
    """env: env steps/s, simulated s per wall s, camera frames/s.
    learner: critic updates/s, time of one UTD update, FLOPs against the CPU's matmul peak.
    link: transitions/s from actor send to learner buffer (durable log included), params publish time."""
    envs: tuple[str, ...] = field(default_factory=tuple)
    """Env ids to measure (default: all)."""
    steps: int = 300
    """Env steps per timed run."""
    repeats: int = 3
    """Timed runs per measurement; the median is reported."""
    all_cores: bool = False
    """Use every core (default: pin the process to one core, as the targets are stated)."""
    json: bool = False
    """Print one JSON object per measurement instead of a table."""
    algo: Literal["sac", "ogpo"] = "sac"
    """bench learner: SAC/RLPD cases, or OGPO's (the authors' sizes and the CPU preset)."""


@dataclass(frozen=True)
class LearnerCommand(TrainConfig):
    """Run only the learner: listen for `robokit actor` processes (on this or other machines)."""

    actors: int = 0
    """Not used: actors are started separately with `robokit actor --learner HOST:PORT`."""
    listen: str = "127.0.0.1:5555"
    """Address to listen on; anything but loopback needs --keys."""


@dataclass(frozen=True)
class ActorCommand:
    """Run one actor: act in a simulated task and stream what happens to a learner."""

    learner: str
    """The learner's HOST:PORT (printed by `robokit learner` / `robokit train`)."""
    env: str = "PickCube-v0"
    actor_id: int = 0
    """Unique per actor of one learner."""
    preset: Literal["cpu", "serl"] = "cpu"
    """The learner's agent preset (the handshake refuses a mismatch)."""
    critic_ensemble: int | None = None
    utd_ratio: int | None = None
    bc_weight: float | None = None
    algo: Literal["sac", "ogpo"] = "sac"
    """The learner's algorithm; ogpo acts in action chunks with the flow policy of --init."""
    init: Path | None = None
    """--algo ogpo: the flow run the learner finetunes (its config.json describes the policy)."""
    keys: Path | None = None
    """CURVE keys folder made by `robokit keys` (needed when the learner uses keys)."""
    spool_dir: Path | None = None
    """Unacknowledged batches live here until the learner has them; default spool/actor_<id>."""
    seed: int = 0
    paced: bool = True
    """Wait when the learner asks (it is behind its update-to-data ratio); simulation only."""
    on_learner_lost: Literal["continue", "hold"] | None = None
    """While the learner is unreachable: act on with the last params, or hold still (default:
    continue in simulation, hold on a real robot)."""
    config: Path | None = None
    """Act on the real robot this YAML file describes instead of a simulated task (never paced)."""
    send_every: int = 1
    """Env steps per batch sent."""
    max_steps: int | None = None
    """Stop after this many env steps (default: run until stopped)."""
    reward_classifier: Path | None = None
    """Simulated tasks: reward (and end) episodes by this classifier (`robokit train-classifier
    --out`). On the real robot it is named in the config's task section."""


@dataclass(frozen=True)
class Keys:
    """Make CURVE keys for the link: copy the folder to the learner and every actor machine."""

    out: Path


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
    out = args.out or _new_folder(
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


def _policy_driver(args: Record):
    """(obs -> action, env id) of the run in --policy ((None, None) without one); the policy sees
    only the observation keys it was trained on (a state policy can drive a Vision twin that keeps
    the object features)."""
    if args.policy is None:
        return None, None
    import jax
    import numpy as np

    from robokit.policy_io import load_policy

    agent, params, policy_env, chunk, _ = load_policy(args.policy, args.direction)
    if chunk is not None:
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
    out = args.out or _new_folder(Path("data") / f"real-frames-{time.strftime('%Y%m%d-%H%M%S')}")
    policy, _ = _policy_driver(args)
    env = make_real_env(args.config, terminate_on_success=False)
    labels = KeyLabels()
    try:
        path = record_labelled_real_frames(env, args.episodes, out, labels, policy, say=console.print)
    finally:
        labels.close()
        env.close()
    console.print(f"dataset: {path}" if path else "nothing was recorded, so no dataset was written")


def _record(args: Record) -> None:
    from rich.console import Console

    from robokit.envs.recording import record_expert
    from robokit.envs.registration import check_env_id

    console = Console()
    if args.config is not None:
        return _record_real(args, console)
    env_id = check_env_id(args.env)
    if args.alternate:
        return _record_alternating(args, env_id, console)
    out = args.out or _new_folder(Path("data") / f"{env_id.split('/')[1]}-{time.strftime('%Y%m%d-%H%M%S')}")
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


def _new_folder(base: Path) -> Path:
    """`base`, or `base-2`, `base-3`... whichever does not exist yet."""
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def _bench(args: Bench) -> None:
    from rich.console import Console
    from rich.table import Table

    if args.what == "env":
        from robokit.envs.bench import bench_env, pin_to_one_core
        from robokit.envs.registration import ENV_IDS, check_env_id

        env_ids = tuple(check_env_id(e) for e in args.envs) or ENV_IDS
        note = "all cores" if args.all_cores else f"one core (cpu {pin_to_one_core()})"
        rows = bench_env(env_ids, steps=args.steps, repeats=args.repeats)
    elif args.what == "link":
        from robokit.bench_link import bench_link

        note = "learner, actors and log on this machine"
        rows = bench_link(repeats=args.repeats)
    else:
        from robokit.bench_learner import bench_learner, bench_ogpo

        note = "all cores"
        rows = (
            bench_ogpo(repeats=args.repeats) if args.algo == "ogpo" else bench_learner(repeats=args.repeats)
        )
    if args.json:
        for row in rows:
            print(json.dumps(row), flush=True)
        return
    table = Table(title=f"robokit bench {args.what} — {note}, median of {args.repeats}")
    for column in ("case", "metric", "value", "unit"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for row in rows:
        table.add_row(row["case"], row["metric"], f"{row['value']:.4g}", row["unit"])
    Console().print(table)


def _sim_env_factory(env_id: str, reward_classifier: Path | None):
    """Makes the simulated env, rewarded by the simulator or by a reward classifier."""
    from robokit.envs.registration import make

    if reward_classifier is None:
        return lambda: make(env_id)
    from robokit.envs.rewarded import make_classifier_rewarded
    from robokit.rewards import RewardClassifier

    classifier = RewardClassifier.load(reward_classifier)  # a missing file: one sentence, at once
    return lambda: make_classifier_rewarded(env_id, classifier)


def _train(config) -> None:
    from rich.console import Console
    from tqdm import tqdm

    from robokit.envs.recording import record_expert
    from robokit.envs.registration import check_env_id
    from robokit.training import train

    console = Console()
    flow = None  # --algo ogpo: the flow agent, whose action chunks the envs take
    if config.algo == "ogpo":
        config, flow = flow_cli.ogpo_config(config)
    spec, make_env, record = None, None, None
    if config.robot_config is not None:
        from robokit.envs.real import spec_of

        if config.reward_classifier is not None:
            raise ValueError(REAL_CLASSIFIER)

        spec = spec_of(config.robot_config)
        if flow is not None:
            spec = dataclasses.replace(spec, action_dim=spec.action_dim * flow.config.chunk)
        env_id = f"real robot ({config.robot_config})"
        config = dataclasses.replace(config, env="real")
    else:
        env_id = check_env_id(config.env)
    if config.run_dir is None and config.resume is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        config = dataclasses.replace(
            config, run_dir=_new_folder(Path("runs") / f"{env_id.split('/')[1]}-{stamp}")
        )
    if spec is None:
        config = dataclasses.replace(config, env=env_id)

        make_env = _sim_env_factory(env_id, config.reward_classifier)
        if flow is not None:
            make_env = flow_cli.chunked_factory(make_env, flow.config)

        def record(out: Path, episodes: int) -> Path:
            console.print(f"recording {episodes} scripted-expert demos of {env_id} into {out}")
            summary = record_expert(env_id, episodes, out, successes_only=True, make_env=make_env)
            return summary.path

    bars: list = []  # made at the first evaluation, so that an early error stays one line

    def progress(row: dict) -> None:
        if not bars:
            bars.append(tqdm(total=config.max_env_steps, unit="step", desc="env steps"))
        bar = bars[0]
        bar.update(row["env_steps"] - bar.n)
        bar.set_postfix(success=f"{row['success_rate']:.2f}", updates=row["updates"])

    def start_actors(address: str, _config_hash: str):
        from robokit.actor_fleet import ActorProcesses

        run_dir = Path(config.resume or config.run_dir)
        if flow is not None:
            agent_options = ["--algo", "ogpo", "--init", str(config.init)]
        else:
            agent_options = ["--preset", config.preset]
            agent_options += (
                ["--critic-ensemble", str(config.critic_ensemble)] if config.critic_ensemble else []
            )
            agent_options += ["--utd-ratio", str(config.utd_ratio)] if config.utd_ratio else []
            agent_options += ["--bc-weight", str(config.bc_weight)] if config.bc_weight else []
        agent_options += ["--keys", str(config.keys)] if config.keys else []
        agent_options += ["--config", str(config.robot_config)] if config.robot_config else []
        if config.reward_classifier is not None:
            agent_options += ["--reward-classifier", str(config.reward_classifier)]
        commands = [
            ["--learner", address, "--env", env_id, "--actor-id", str(i)]
            + ["--spool-dir", str(run_dir / "spool" / f"actor_{i}")]
            + ["--seed", str(config.seed + 1000 * (i + 1))]
            + agent_options
            for i in range(config.actors)
        ]
        console.print(f"starting {config.actors} actor processes (logs in {run_dir / 'actors'})")
        return ActorProcesses(commands, run_dir / "actors")

    serve = isinstance(config, LearnerCommand)
    result = train(config, make_env, record, progress, start_actors, serve, console.print, spec)
    for bar in bars:
        bar.close()
    final = result.final_eval
    if final.get("interrupted"):
        console.print(
            f"[yellow]interrupted at {result.env_steps} env steps[/yellow]: resume with "
            f"robokit train{' --algo ogpo' if flow else ''} --resume {result.run_dir}"
        )
    elif "success_rate" not in final:
        console.print(
            f"[bold]{env_id}[/bold]: {result.env_steps} env steps, {result.updates} updates, "
            f"{result.wall_s / 60:.1f} min; evaluate with robokit eval --run {result.run_dir} --config FILE"
        )
    else:
        console.print(
            f"[bold]{env_id}[/bold]{' OGPO' if flow else ''}: success rate {final['success_rate']:.0%} on "
            f"{final['episodes']} "
            f"fresh episodes after {result.env_steps} env steps, {result.updates} updates, "
            f"{result.wall_s / 60:.1f} min"
        )
    console.print(f"checkpoint: {result.checkpoint}")
    console.print(f"curve:      {result.curve}")
    console.print(f"logs:       {result.run_dir / 'tb'} (tensorboard --logdir {result.run_dir / 'tb'})")


def _actor(args: ActorCommand) -> None:
    import signal

    from robokit.actor import Actor, run_actor
    from robokit.actor_fleet import exit_with_parent
    from robokit.agents.flow import OGPO
    from robokit.agents.sac import SAC
    from robokit.envs.registration import check_env_id
    from robokit.flow_training import flow_run_agent, require_init
    from robokit.link.keys import split_address
    from robokit.link.zmq_actor import LinkRefused, ZmqActorLink
    from robokit.training import agent_config_hash
    from robokit.types import EnvSpec

    split_address(args.learner)  # a malformed address is one sentence before the robot is opened
    flow = flow_run_agent(require_init(args.init))[0] if args.algo == "ogpo" else None  # likewise
    if args.config is not None:
        from robokit.envs.real import make_real_env

        if args.reward_classifier is not None:
            raise ValueError(REAL_CLASSIFIER)
        env = make_real_env(args.config)
        paced, on_lost = False, args.on_learner_lost or "hold"  # the link never slows a real arm
    else:
        env = _sim_env_factory(check_env_id(args.env), args.reward_classifier)()
        paced, on_lost = args.paced, args.on_learner_lost or "continue"
    if flow is not None:
        agent_config = flow.config
        env = flow_cli.chunked(env, agent_config.chunk, agent_config.discount)
    else:
        agent_config = TrainConfig(
            preset=args.preset,
            critic_ensemble=args.critic_ensemble,
            utd_ratio=args.utd_ratio,
            bc_weight=args.bc_weight,
        ).agent_config()
    spec = EnvSpec.from_spaces(env.observation_space, env.action_space)
    agent = OGPO(agent_config, spec) if flow is not None else SAC(agent_config, spec)
    spool = args.spool_dir or Path("spool") / f"actor_{args.actor_id}"
    try:
        link = ZmqActorLink(
            args.learner, args.actor_id, spec, agent_config_hash(agent_config), spool, args.keys, paced
        )
    except BaseException:
        env.close()
        raise
    stop = {"requested": False}

    def request_stop(*_) -> None:
        stop["requested"] = True
        link.release()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    exit_with_parent()
    try:
        if not link.wait_connected(10.0):
            print(f"actor {args.actor_id}: no answer from {args.learner} yet; acting and spooling meanwhile")
        actor = Actor(env, agent, link, seed=args.seed, actor_id=args.actor_id)
        steps = run_actor(actor, link, lambda: stop["requested"], on_lost, args.send_every, args.max_steps)
        flushed = link.flush(timeout_s=5.0)
        left = "all acknowledged" if flushed else f"{len(link.spool)} batches kept in {spool} for next time"
        print(f"actor {args.actor_id}: {steps} env steps; {left}")
    except LinkRefused as err:
        raise RuntimeError(str(err)) from None
    finally:
        link.close()
        env.close()


def _find_cameras(args: FindCameras) -> None:
    from robokit.drivers.realsense import list_cameras

    cameras = list_cameras()
    if not cameras:
        print("no RealSense cameras found (check the USB 3 cable and that no other program holds them)")
    for camera in cameras:
        print(f"{camera['serial']}  {camera['name']}  firmware {camera['firmware']}  USB {camera['usb']}")


def _robot_check(args: RobotCheck) -> None:
    from robokit.envs.robot_check import robot_check

    robot_check(args.config)
    print("robot check passed")


def _keys(args: Keys) -> None:
    from robokit.link.keys import create_keys

    folder = create_keys(args.out)
    print(f"keys written to {folder}: copy the folder to the learner and every actor machine, pass --keys")


def _eval(args: Eval) -> None:
    from rich.console import Console

    from robokit.envs.registration import make
    from robokit.evaluation import evaluate
    from robokit.policy_io import load_policy

    agent, params, env_id, chunk, discount = load_policy(args.run)
    if args.config is not None:
        from robokit.envs.real import make_real_env
        from robokit.types import EnvSpec

        env = flow_cli.chunked(make_real_env(args.config), chunk, discount)
        spec = EnvSpec.from_spaces(env.observation_space, env.action_space)
        if spec != agent.spec:
            env.close()
            raise ValueError(
                f"the policy in {args.run} takes {agent.spec.observations}, {agent.spec.action_dim} "
                f"actions; the robot in {args.config} gives {spec.observations}, {spec.action_dim}: use "
                "a policy trained with the same cameras, sizes and task."
            )
        env_id = f"real robot ({args.config})"
    else:
        env = flow_cli.chunked(make(env_id, render_mode="rgb_array" if args.video else None), chunk, discount)
    frames: list = []
    on_frame = frames.append if args.video else None
    result = evaluate(env, agent, params, args.episodes, seed=args.seed, on_frame=on_frame)
    if args.video:
        import imageio

        imageio.mimwrite(args.video, frames, fps=10)
    Console().print(
        f"[bold]{env_id}[/bold] from {args.run}: success rate {result['success_rate']:.0%} over "
        f"{args.episodes} episodes, mean return {result['return']:.2f}, "
        f"mean length {result['episode_length']:.1f}" + (f"; video: {args.video}" if args.video else "")
    )


COMMANDS = {
    "record": Record,
    "train": TrainConfig,
    "learner": LearnerCommand,
    "actor": ActorCommand,
    "keys": Keys,
    "find-cameras": FindCameras,
    "robot-check": RobotCheck,
    "eval": Eval,
    "bench": Bench,
    "train-classifier": TrainClassifier,
    "train-reset-free": TrainResetFree,
    "pretrain": flow_cli.Pretrain,
}
HANDLERS = {
    Record: _record,
    TrainConfig: _train,
    LearnerCommand: _train,
    ActorCommand: _actor,
    Keys: _keys,
    FindCameras: _find_cameras,
    RobotCheck: _robot_check,
    Eval: _eval,
    Bench: _bench,
    TrainClassifier: classifier_cli.run,
    TrainResetFree: reset_free_cli.run,
    flow_cli.Pretrain: flow_cli.pretrain,
}


def main(argv: list[str] | None = None) -> None:
    args = tyro.extras.subcommand_cli_from_dict(
        COMMANDS,
        args=argv,
        prog="robokit",
        description="robokit: robot RL in MuJoCo and on a real Franka arm.",
    )
    try:
        HANDLERS[type(args)](args)
    except (ValueError, OSError, RuntimeError) as err:
        # Errors a user can cause end in one sentence, not a traceback.
        command = next(name for name, kind in COMMANDS.items() if kind is type(args))
        print(f"robokit {command}: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
