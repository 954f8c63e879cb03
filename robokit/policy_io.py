"""Loads a trained run's policy: the agent rebuilt from config.json and its latest checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import jax

from robokit import checkpoint
from robokit.agents.sac import SAC
from robokit.agents.sac_config import SACConfig
from robokit.types import EnvSpec


def load_policy(run_dir: Path) -> tuple[SAC, dict, str]:
    """(agent, policy params, env id) of the run's newest checkpoint."""
    run_dir = Path(run_dir)
    config_file = run_dir / "config.json"
    latest = checkpoint.latest(run_dir / "checkpoints")
    if not config_file.exists() or latest is None:
        raise FileNotFoundError(
            f"{run_dir} holds no trained policy: pass a run folder that `robokit train` wrote."
        )
    saved = json.loads(config_file.read_text())
    spec = saved["spec"]
    spec = EnvSpec(
        observations=tuple((k, tuple(shape), dtype) for k, shape, dtype in spec["observations"]),
        action_dim=spec["action_dim"],
    )
    agent_fields = dict(saved["agent"])
    agent_fields["hidden_dims"] = tuple(agent_fields["hidden_dims"])
    agent = SAC(SACConfig(**agent_fields), spec)
    state, _, _ = checkpoint.restore(latest, agent.init(jax.random.PRNGKey(0)), spec)
    return agent, agent.policy_params(state), saved["train"]["env"]
