"""Loads a trained run's policy (SAC or flow): the agent rebuilt from config.json, its latest checkpoint."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import jax

from robokit import checkpoint
from robokit.agents.sac import SAC
from robokit.agents.sac_config import SACConfig
from robokit.types import EnvSpec


def spec_json(spec: EnvSpec) -> dict:
    """An EnvSpec as a run's config.json records it (what `saved_spec` reads back)."""
    return json.loads(json.dumps(asdict(spec)))


def saved_spec(saved: dict) -> EnvSpec:
    """The EnvSpec a run's config.json recorded."""
    spec = saved["spec"]
    return EnvSpec(
        observations=tuple((k, tuple(shape), dtype) for k, shape, dtype in spec["observations"]),
        action_dim=spec["action_dim"],
    )


class LoadedPolicy(NamedTuple):
    agent: object
    params: dict
    env_id: str
    chunk: int | None = None
    """Env steps per action (flow policies act in chunks: wrap the env in ActionChunk)."""
    discount: float = 0.99


def load_policy(run_dir: Path, direction: str | None = None) -> LoadedPolicy:
    """The agent, policy params and env id of a run's newest checkpoint (SAC or flow policy); of a
    reset-free run, the `direction` agent's (forward or backward)."""
    run_dir = Path(run_dir)
    config_file = run_dir / "config.json"
    saved = json.loads(config_file.read_text()) if config_file.exists() else {}
    if saved.get("algo") in ("flow-bc", "ogpo"):
        from robokit.flow_training import load_flow_run

        agent, state, saved = load_flow_run(run_dir)
        config = agent.config
        return LoadedPolicy(
            agent, agent.policy_params(state), saved["train"]["env"], config.chunk, config.discount
        )
    checkpoints, env_id = run_dir / "checkpoints", saved.get("train", {}).get("env")
    if "reset_free" in saved:
        if direction not in ("forward", "backward"):
            raise ValueError(
                f"{run_dir} is a reset-free run with two policies: pick one with --direction forward "
                "or --direction backward."
            )
        checkpoints, env_id = checkpoints / direction, saved["reset_free"]["env"]
    latest = checkpoint.latest(checkpoints)
    if "spec" not in saved or latest is None:
        raise FileNotFoundError(
            f"{run_dir} holds no trained policy: pass a run folder that `robokit train` wrote."
        )
    spec = saved_spec(saved)
    agent_fields = dict(saved["agent"])
    agent_fields["hidden_dims"] = tuple(agent_fields["hidden_dims"])
    agent = SAC(SACConfig(**agent_fields), spec)
    state, _, _ = checkpoint.restore(latest, agent.init(jax.random.PRNGKey(0)), spec)
    return LoadedPolicy(agent, agent.policy_params(state), env_id)
