"""FamO2O (Wang et al., NeurIPS 2023): offline-to-online RL with a universal policy conditioned on a
balance coefficient and a balance model that picks the coefficient per state. config.py
(hyperparameters), agent.py (the JAX update, IQL or AWAC base; fixed beta for the baselines)."""

import dataclasses

from robokit.agents.base import AgentKind
from robokit.agents.famo2o.config import PRESETS, FamO2OConfig


def _build(config: FamO2OConfig, spec):
    from robokit.agents.famo2o.agent import FamO2O

    return FamO2O(config, spec)


def _tune(preset: FamO2OConfig, options: dict) -> FamO2OConfig:
    config = dataclasses.replace(preset, **options)
    config.check()
    return config


KIND = AgentKind(
    "famo2o",
    FamO2OConfig,
    PRESETS,
    _build,
    learns_from_demos=True,
    finetunes=True,
    tune=_tune,
    online=lambda config: dataclasses.replace(config, online=True),
)
