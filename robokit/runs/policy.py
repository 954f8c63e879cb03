"""A run folder's agent: rebuilt from config.json through the agent registry, with the state of its
newest checkpoint (any algorithm: SAC, a flow policy, a registered agent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from robokit.agents.base import ALIASES, AgentKind, agent_kind
from robokit.runs import checkpoint
from robokit.types import EnvSpec


def saved_spec(saved: dict) -> EnvSpec:
    """The EnvSpec a run's config.json recorded."""
    spec = saved["spec"]
    return EnvSpec(
        observations=tuple((k, tuple(shape), dtype) for k, shape, dtype in spec["observations"]),
        action_dim=spec["action_dim"],
    )


def read_config(run_dir: Path) -> dict:
    """A run's config.json ({} where there is none)."""
    config_file = Path(run_dir) / "config.json"
    return json.loads(config_file.read_text()) if config_file.exists() else {}


def checkpoints_of(run_dir: Path, saved: dict, direction: str | None = None) -> Path:
    """The folder of a run's checkpoints; of a reset-free run, the `direction` agent's."""
    if "reset_free" not in saved:
        return Path(run_dir) / "checkpoints"
    if direction not in ("forward", "backward"):
        raise ValueError(
            f"{run_dir} is a reset-free run with two policies: pick one with --direction forward "
            "or --direction backward."
        )
    return Path(run_dir) / "checkpoints" / direction


def saved_agent(run_dir: Path, direction: str | None = None) -> tuple[AgentKind, Any, dict, Path]:
    """(kind, agent, config.json, newest checkpoint) of a run folder; no checkpoint is read."""
    saved = read_config(run_dir)
    folder = checkpoints_of(run_dir, saved, direction)
    latest = checkpoint.latest(folder)
    if "spec" not in saved or "agent" not in saved or latest is None:
        raise FileNotFoundError(
            f"{run_dir} holds no trained policy: pass a run folder that `robokit train` (or "
            "`robokit pretrain`) wrote."
        )
    kind = agent_kind(saved.get("algo", "sac"))  # reset-free runs and early runs are SAC's
    try:
        config = kind.config_from_json(saved["agent"])
    except TypeError as err:
        raise ValueError(f"{run_dir}/config.json does not describe a {kind.name} agent ({err}).") from None
    return kind, kind.build(config, saved_spec(saved)), saved, latest


def restore_agent_state(agent, latest: Path):
    """The agent state of one checkpoint folder (its buffers are not read)."""
    import jax

    state, _, _ = checkpoint.restore(latest, agent.init(jax.random.PRNGKey(0)), agent.spec, buffers=False)
    return state


class LoadedPolicy(NamedTuple):
    agent: Any
    params: Any
    env_id: str
    kind: AgentKind
    encoder: str | None = None  # the run's pretrained image encoder, if its policy reads one
    looks: str | None = None  # the visual randomisation it was trained under (robokit train --looks)
    cameras_like: str | None = None  # the robot.yaml its simulated cameras imitated
    eval_actions: str = "mean"  # how its evaluations acted (robokit train --eval-actions)

    @property
    def chunk(self) -> int | None:
        """Env steps per action (flow policies act in chunks), or None."""
        return self.kind.chunk(self.agent.config)

    def wrap_env(self, env):
        """`env` as this policy acts in it (its frames encoded by the run's encoder; in action
        chunks for a flow policy)."""
        if self.encoder is not None:
            from robokit.agents.pose_encoder import encoded

            env = encoded(env, Path(self.encoder))
        return self.kind.wrap_env(env, self.agent.config)


def load_policy(run_dir: Path, direction: str | None = None) -> LoadedPolicy:
    """The agent, policy params and env id of a run's newest checkpoint; of a reset-free run, the
    `direction` agent's (forward or backward)."""
    kind, agent, saved, latest = saved_agent(run_dir, direction)
    state = restore_agent_state(agent, latest)
    run = saved["reset_free"] if "reset_free" in saved else saved.get("train", {})  # how it was run
    return LoadedPolicy(
        agent,
        agent.policy_params(state),
        run.get("env"),
        kind,
        run.get("encoder"),
        run.get("looks"),
        run.get("cameras_like"),
        run.get("eval_actions", "mean"),
    )


def choose_agent(choice, resume: Path | None = None) -> tuple[AgentKind, Any]:
    """(kind, agent config) of `choice` (robokit.agents.base.AgentChoice): a resumed run's own, the
    --init run's for an agent that finetunes one, else the preset with the options given."""
    kind = agent_kind(choice.algo)
    if resume is not None:
        saved = read_config(resume)
        if "agent" not in saved:
            raise FileNotFoundError(
                f"{resume} holds no checkpoint to resume: pass a run folder that `robokit train` wrote."
            )
        algo = saved.get("algo", "sac")
        if algo != choice.algo and algo in ALIASES:
            raise ValueError(
                f"{resume} is not an {choice.algo.upper()} run: resume a folder `robokit train --algo "
                f"{choice.algo}` wrote."
            )
        if algo != choice.algo:
            raise ValueError(f"{resume} holds a {algo} run: resume it with --algo {algo}.")
    elif kind.finetunes:
        saved = read_config(choice.init_run())
        if "agent" not in saved or agent_kind(saved.get("algo", "sac")).name != kind.name:
            raise FileNotFoundError(
                f"{choice.init} holds no {kind.name} policy: pass a folder that `robokit pretrain` "
                f"(or `robokit train --algo {kind.name}`) wrote."
            )
    else:
        return kind, kind.configure(choice.preset, choice.options())
    config = kind.config_from_json(saved["agent"])
    return kind, config if resume is not None else kind.online(config)
