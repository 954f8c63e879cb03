"""OGPO flow-policy finetuning: config.py, agent.py (flow BC and the OGPO update), chunking.py (the
ActionChunk wrapper) and successes.py (the success buffer its flow-matching term samples)."""

from robokit.agents.base import AgentKind, ExtraBuffer
from robokit.agents.ogpo.config import FLOW_PRESETS, FlowConfig, success_gate
from robokit.agents.ogpo.successes import SuccessfulEpisodes


def _build(config: FlowConfig, spec):
    from robokit.agents.ogpo.agent import OGPO

    return OGPO(config, spec)


KIND = AgentKind(
    "ogpo",
    FlowConfig,
    FLOW_PRESETS,
    _build,
    learns_from_demos=False,
    buffers=(ExtraBuffer("successes", SuccessfulEpisodes, success_gate),),
    chunk=lambda config: config.chunk,
    finetunes=True,
)
