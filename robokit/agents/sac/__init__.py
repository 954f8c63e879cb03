"""SAC with the RLPD recipe: config.py (hyperparameters, presets) and agent.py (the JAX update)."""

import dataclasses

from robokit.agents.base import AgentKind
from robokit.agents.sac.config import PRESETS, SACConfig


def _build(config: SACConfig, spec):
    from robokit.agents.sac.agent import SAC

    return SAC(config, spec)


def _tune(preset: SACConfig, options: dict) -> SACConfig:
    """A preset with options over it; fewer critics than the target subset shrink the subset."""
    if "critic_ensemble" in options:
        options = {"critic_subsample": min(preset.critic_subsample, options["critic_ensemble"]), **options}
    return dataclasses.replace(preset, **options)


KIND = AgentKind("sac", SACConfig, PRESETS, _build, learns_from_demos=True, tune=_tune)
