"""`robokit pretrain`: a flow policy cloned from demos (--algo flow-bc, the start OGPO finetunes), or
FamO2O trained offline on any dataset (--algo famo2o, the start `robokit train --algo famo2o`
finetunes online)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Pretrain:
    """Pretrain offline: behaviour-clone a flow policy on demonstrations (--algo flow-bc, the start
    OGPO finetunes), or train FamO2O on a dataset of any quality (--algo famo2o)."""

    algo: Literal["flow-bc", "famo2o"] = "flow-bc"
    env: str = "PickCube-v0"
    data: Path | None = None
    """Minari dataset; flow-bc's default: record `num_demos` scripted-expert demos into
    RUN_DIR/demos. famo2o needs one (e.g. `robokit record --mixed-quality`)."""
    num_demos: int = 20
    run_dir: Path | None = None
    steps: int = 20_000
    """Flow-matching steps at most."""
    eval_every: int = 1_000
    eval_episodes: int = 20
    max_success: float | None = None
    """Keep the newest checkpoint whose success is at most this, and stop at the first evaluation
    above it (a deliberately weak start, e.g. 0.45)."""
    chunk: int = 4
    """Env steps per action chunk (H)."""
    preset: Literal["cpu", "paper"] = "cpu"
    """Network and batch sizes: 'paper' (the authors': 10 critics, 32 chains per state, 4 x 512) or
    'cpu' (2 critics, 8 chains, batches of 64, 2 x 256). OGPO finetuning keeps the preset."""
    act_noise: float = 1.0
    """Scale of the noise the acting ODE starts from (0: act from the flow's centre, one action per
    state, as the instructed low level of language corrections does)."""
    instructor: Path | None = None
    """Instruction-annotated demos (`robokit record --instructed`): evaluate under this saved
    instructor (`robokit train-instructor --out`) instead of the task's own plan."""
    seed: int = 0
    beta_lo: float | None = None
    beta_hi: float | None = None
    """famo2o: the balance coefficient's range (default [1, 10])."""
    fixed_beta: float | None = None
    """famo2o: a constant beta instead of the balance model (the fixed-beta IQL / AWAC baseline)."""
    base: Literal["iql", "awac"] | None = None
    """famo2o: the critic base (default iql)."""
    policy_average: float | None = None
    """famo2o: the acting policy is a Polyak average of the trained one, moved this far each step
    (default 0.001; 0: the latest parameters, as the authors act). Online finetuning keeps it."""


def instructed_factory(env_id: str, data: Path | None, instructor: Path | None):
    """Makes the env a policy cloned from `data` acts in: under `instructor` if one is named, under
    the task's own plan if the demos are instruction-annotated, else the plain task."""
    from robokit.envs.registration import make

    if instructor is not None:
        from robokit.language.instructor import instructing

        instructed = instructing(instructor)
        return lambda: instructed(make(env_id))
    if data is None or "instruction" not in _observation_keys(data):
        return lambda: make(env_id)
    from robokit.envs.instructed_demos import instructed_env
    from robokit.language.encoder import EmbeddingTable, table_beside

    table = EmbeddingTable.open(table_beside(data))  # the recording's: no encoder needed
    return lambda: instructed_env(make(env_id), table)


def _observation_keys(data: Path) -> set[str]:
    from robokit.data.datasets import open_dataset

    space = open_dataset(data).spec.observation_space
    return set(getattr(space, "spaces", {}))


def pretrain(args: Pretrain) -> None:
    if args.algo == "famo2o":
        return pretrain_famo2o(args)
    from rich.console import Console

    from robokit.agents.chunking import chunked
    from robokit.agents.ogpo.config import FLOW_PRESETS
    from robokit.envs.recording import record_expert
    from robokit.envs.registration import check_env_id
    from robokit.recipes.flow_bc import pretrain_flow_bc

    console = Console()
    env_id = check_env_id(args.env)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = args.run_dir or Path("runs") / f"{env_id.split('/')[1]}-flow-bc-{stamp}"
    config = dataclasses.replace(FLOW_PRESETS[args.preset], chunk=args.chunk, act_noise=args.act_noise)
    make_env = instructed_factory(env_id, args.data, args.instructor)

    def demos(out: Path) -> Path:
        if args.data is not None:
            return args.data
        console.print(f"recording {args.num_demos} scripted-expert demos of {env_id} into {out}")
        return record_expert(env_id, args.num_demos, out, successes_only=True).path

    result = pretrain_flow_bc(
        env_id, lambda: chunked(make_env(), config.chunk, config.discount), demos, run_dir, config,
        steps=args.steps, eval_every=args.eval_every, eval_episodes=args.eval_episodes,
        max_success=args.max_success, seed=args.seed, say=console.print,
    )  # fmt: skip
    if result.kept_step is None:
        raise RuntimeError(
            f"no evaluation was at or below --max-success {args.max_success}: lower --eval-every so that "
            "an earlier, weaker policy is evaluated."
        )
    console.print(
        f"[bold]{env_id}[/bold] flow BC: kept step {result.kept_step} with {result.kept_success:.0%} success "
        f"({result.steps} steps run); run: {result.run_dir}"
    )


def pretrain_famo2o(args: Pretrain) -> None:
    from rich.console import Console

    from robokit.agents.base import agent_kind
    from robokit.cli.balance_map import balance_line, write_balance_map
    from robokit.envs.registration import check_env_id, make
    from robokit.recipes.famo2o_offline import pretrain_famo2o as run

    console = Console()
    env_id = check_env_id(args.env)
    if args.data is None:
        raise ValueError(
            "--algo famo2o learns from a dataset: pass --data DIR (e.g. from `robokit record "
            "--mixed-quality`)."
        )
    options = {
        "beta_lo": args.beta_lo,
        "beta_hi": args.beta_hi,
        "fixed_beta": args.fixed_beta,
        "base": args.base,
        "policy_average": args.policy_average,
    }
    config = agent_kind("famo2o").configure("cpu", options)  # a bad range: one sentence, before any work
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = args.run_dir or Path("runs") / f"{env_id.split('/')[1]}-famo2o-{stamp}"

    def balance_map(run_dir: Path, agent, params, env) -> None:
        if config.fixed_beta is None:
            console.print(balance_line(write_balance_map(run_dir, agent, params, env, f"{env_id} offline")))

    run_dir = run(
        env_id, lambda: make(env_id), [args.data], run_dir, config, steps=args.steps,
        eval_every=args.eval_every, eval_episodes=args.eval_episodes, seed=args.seed, say=console.print,
        after=balance_map,
    )  # fmt: skip
    console.print(f"[bold]{env_id}[/bold] FamO2O offline: run {run_dir} (finetune it with --init)")
