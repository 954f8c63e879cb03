"""`robokit train` and `robokit learner`: an online training run, with its actors or awaiting them."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from robokit.cli.common import (
    check_reward_classifier,
    frames_source,
    new_folder,
    reward_source,
    sim_env_factory,
    sim_options,
)
from robokit.launch.flags import LaunchFlags
from robokit.recipes.online_config import TrainConfig


@dataclass(frozen=True)
class TrainCommand(TrainConfig, LaunchFlags):
    """Train a policy in simulation: record demos, run the learner and its actors, evaluate, save."""


@dataclass(frozen=True)
class LearnerCommand(TrainConfig):
    """Run only the learner: listen for `robokit actor` processes (on this or other machines)."""

    actors: int = 0
    """Not used: actors are started separately with `robokit actor --learner HOST:PORT`."""
    listen: str = "127.0.0.1:5555"
    """Address to listen on; anything but loopback needs --keys."""


def _envs(config: TrainConfig, console):
    """(config, env id, spec, make_env, record_demos): a simulated task's factories, or for a real
    robot only its spec (the learner never opens the robot)."""
    from robokit.envs.recording import record_expert
    from robokit.envs.registration import check_env_id
    from robokit.runs.policy import choose_agent

    kind, agent_config = choose_agent(config, resume=config.resume)
    check_reward_classifier(config.robot_config, config.reward_classifier)
    if config.robot_config is not None:
        if config.instructor is not None:
            raise ValueError("--instructor is for simulated tasks so far: drop it with --robot-config.")
        if config.encoder is not None:
            raise ValueError("--encoder is for simulated tasks so far: drop it with --robot-config.")
        from robokit.envs.real import spec_of

        spec = spec_of(config.robot_config)
        spec = dataclasses.replace(spec, action_dim=spec.action_dim * kind.steps_per_action(agent_config))
        return (
            dataclasses.replace(config, env="real"),
            f"real robot ({config.robot_config})",
            spec,
            None,
            None,
        )
    env_id = check_env_id(config.env)
    make_sim_env = sim_env_factory(
        env_id,
        config.reward_classifier,
        config.instructor,
        config.encoder,
        sim_options(config.looks, config.cameras_like),
    )

    def make_env():
        return kind.wrap_env(make_sim_env(), agent_config)

    def record(out: Path, episodes: int) -> Path:
        console.print(f"recording {episodes} scripted-expert demos of {env_id} into {out}")
        return record_expert(env_id, episodes, out, successes_only=True, make_env=make_env).path

    return dataclasses.replace(config, env=env_id), env_id, None, make_env, record


def actor_fleet(config: TrainConfig, env_id: str, address: str, console):
    """Actor processes on this machine for the run `config` describes (each `robokit actor`)."""
    from robokit.loop.fleet import ActorProcesses

    run_dir = Path(config.resume or config.run_dir)
    console.print(f"starting {config.actors} actor processes (logs in {run_dir / 'actors'})")
    return ActorProcesses(actor_options(config, env_id, address), run_dir / "actors")


def actor_options(config: TrainConfig, env_id: str, address: str) -> list:
    """The ActorOptions of each of the run's actors (robokit.loop.build)."""
    from robokit.agents.base import AgentChoice
    from robokit.loop.build import ActorOptions

    run_dir = Path(config.resume or config.run_dir).absolute()
    choice = {f.name: getattr(config, f.name) for f in dataclasses.fields(AgentChoice)}
    actors = [
        ActorOptions(
            **choice,
            learner=address,
            env=env_id,
            actor_id=i,
            keys=config.keys,
            spool_dir=run_dir / "spool" / f"actor_{i}",
            corrections_dir=run_dir / "corrections" / f"actor_{i}",
            labels_dir=run_dir / "labels" / f"actor_{i}",
            seed=config.seed + 1000 * (i + 1),
            config=config.robot_config,
            reward_classifier=config.reward_classifier,
            instructor=config.instructor,
            encoder=config.encoder,
            looks=config.looks,
            cameras_like=config.cameras_like,
        )
        for i in range(config.actors)
    ]
    return actors


class ProgressBar:
    """Env steps of the budget, with env steps/s and updates/s since the run began (over the whole
    run after a resume) and the latest evaluation's success rate."""

    FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{postfix}"

    def __init__(self, total: int, console):
        self.total, self.console, self.bar = total, console, None

    def say(self, line: str) -> None:
        """A line above the bar (or plain, before it exists), never through the middle of it."""
        if self.bar is None:
            self.console.print(line)
        else:
            self.bar.write(line)

    def __call__(self, row: dict) -> None:
        from tqdm import tqdm

        if self.bar is None:  # made at the first report, so that an early error stays one line
            self.bar = tqdm(total=self.total, desc="env steps", bar_format=self.FORMAT)
        self.bar.n = min(row["env_steps"], self.total)
        wall = max(row["wall_s"], 1e-9)
        success = row.get("success_rate")
        self.bar.set_postfix_str(
            f"{row['env_steps'] / wall:.0f} env steps/s, {row['updates'] / wall:.1f} updates/s, "
            f"success {'-' if success is None else f'{success:.2f}'}, {wall / 60:.1f} min"
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(config: TrainConfig) -> None:
    from rich.console import Console

    if getattr(config, "launcher", "local") == "ray":
        from robokit.launch.ray_learner import run_under_ray

        return run_under_ray(config, Console())
    console = Console()
    _report(*train_here(config, console, actor_fleet))


def with_run_dir(config: TrainConfig, env_id: str | None = None) -> TrainConfig:
    """`config` with its run folder: the one given, resumed, or runs/<env>-<date>-<time> (the env
    id checked here when not given)."""
    if config.run_dir is not None or config.resume is not None:
        return config
    if env_id is None:
        from robokit.envs.registration import check_env_id

        env_id = check_env_id(config.env)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return dataclasses.replace(config, run_dir=new_folder(Path("runs") / f"{env_id.split('/')[-1]}-{stamp}"))


def train_here(config: TrainConfig, console, fleet, stop=None, progress: bool = True):
    """Train in this process, its actors started by `fleet(config, env_id, address, console)`;
    (config, env id, result, console, verb) for _report."""
    from robokit.recipes.online import train

    config, env_id, spec, make_env, record = _envs(config, console)
    config = with_run_dir(config, env_id)
    bar = ProgressBar(config.max_env_steps, console) if progress else None

    def start_actors(address: str, run_config: TrainConfig):
        return fleet(run_config, env_id, address, console)

    serve = isinstance(config, LearnerCommand)
    reward = reward_source(config.robot_config, config.reward_classifier)
    frames = frames_source(config.encoder)
    say = bar.say if bar is not None else console.print
    try:
        result = train(config, make_env, record, bar, start_actors, serve, say, spec, reward, stop, frames)
    finally:
        if bar is not None:
            bar.close()
    return config, env_id, result, console, "learner" if serve else "train"


def _report(config: TrainConfig, env_id: str, result, console, verb: str) -> None:
    _final_lines(config, env_id, result, console, verb)
    if config.algo == "famo2o" and config.robot_config is None and not result.final_eval.get("interrupted"):
        from robokit.cli.balance_map import balance_line, balance_map_of_run

        summary = balance_map_of_run(result.run_dir)
        if summary is not None:
            console.print(balance_line(summary))


def resume_command(config: TrainConfig, verb: str, run_dir: Path) -> str:
    """The command that resumes this run: the same verb, and every option a resume must repeat."""
    from robokit.recipes.online_config import BUDGET_FIELDS

    command = LearnerCommand if verb == "learner" else TrainCommand
    words = [f"robokit {verb}"]
    for f in dataclasses.fields(command):
        value = getattr(config, f.name)
        repeat = f.name not in BUDGET_FIELDS or f.name in (
            "listen",
            "keys",
            "actors",
            "launcher",
            "ray_address",
        )
        if not repeat or value == f.default or value is None or (f.name == "env" and value == "real"):
            continue
        flag = "--" + f.name.replace("_", "-")
        words.append(
            (flag if value else "--no-" + flag[2:]) if isinstance(value, bool) else f"{flag} {value}"
        )
    return " ".join([*words, f"--resume {run_dir}"])


def _final_lines(config: TrainConfig, env_id: str, result, console, verb: str) -> None:
    final = result.final_eval
    algo = "" if config.algo == "sac" else f" --algo {config.algo}"
    if final.get("interrupted"):
        console.print(
            f"[yellow]interrupted at {result.env_steps} env steps[/yellow]: resume with "
            f"{resume_command(config, verb, result.run_dir)}"
        )
    elif "success_rate" not in final:
        console.print(
            f"[bold]{env_id}[/bold]: {result.env_steps} env steps, {result.updates} updates, "
            f"{result.wall_s / 60:.1f} min; evaluate with robokit eval --run {result.run_dir} --config FILE"
        )
    else:
        sampled = " (sampled actions)" if final.get("actions") == "sampled" else ""
        console.print(
            f"[bold]{env_id}[/bold]{' ' + config.algo.upper() if algo else ''}: success rate "
            f"{final['success_rate']:.0%} on {final['episodes']} fresh episodes{sampled} after "
            f"{result.env_steps} env steps, {result.updates} updates, {result.wall_s / 60:.1f} min"
        )
    console.print(f"checkpoint: {result.checkpoint}")
    console.print(f"curve:      {result.curve}")
    console.print(f"logs:       {result.run_dir / 'tb'} (tensorboard --logdir {result.run_dir / 'tb'})")
