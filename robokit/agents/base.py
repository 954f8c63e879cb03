"""The Agent protocol and the registry of algorithms, through which training, evaluation,
checkpoints, resume, actors and the CLI find an agent by its name.

    kind = agent_kind("sac")                           # static facts; JAX is not imported yet
    config = kind.configure("cpu", {"utd_ratio": 8})   # a preset with options over it
    agent = kind.build(config, spec)
    state = agent.init(key, **obs_statistics(demos.obs, spec, len(demos)))
    while training:
        state, metrics = agent.update(state, batch)    # jitted; the UTD ratio runs inside
        params = agent.policy_params(state)            # all an actor needs
        action = agent.act(params, obs, key, explore=True)

A new algorithm is a folder under robokit/agents/ whose __init__ defines KIND, plus one line in
BUILT_IN. An agent outside robokit is named "package.module:KIND" (actor processes import it too).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from robokit.types import Batch, EnvSpec, Params

#: robokit's own agents: name -> "module:attribute" of its AgentKind (imported on first use)
BUILT_IN = {
    "sac": "robokit.agents.sac:KIND",
    "ogpo": "robokit.agents.ogpo:KIND",
    "famo2o": "robokit.agents.famo2o:KIND",
}
#: names run folders may carry for an agent of another name
ALIASES = {"flow-bc": "ogpo"}  # `robokit pretrain --algo flow-bc` trains an OGPO agent's flow policy

_registered: dict[str, AgentKind] = {}


class Agent(Protocol):
    """An algorithm as pure functions over a `flax.struct.PyTreeNode` state; the object itself holds
    only its static config and the env spec."""

    config: Any
    spec: EnvSpec

    def init(self, key, state_mean=None, state_std=None, entries=None) -> Any:
        """Fresh state; `state_mean`/`state_std` standardise the "state" vector and `entries` (key ->
        (mean, std)) the other vector entries: the demos' figures (preprocessing.obs_statistics)."""
        ...

    def update(self, state, batch: Batch) -> tuple[Any, dict]: ...

    def act(self, params: Params, obs: dict, key, explore: bool = True) -> Any: ...

    def policy_params(self, state) -> Params: ...


@dataclass(frozen=True)
class ExtraBuffer:
    """A replay buffer an agent samples beyond online and demos (OGPO: successful episodes). The
    learner fills it through `make_sink(buffer)(batch)` with every transitions batch that arrives,
    and each training batch carries `batch_size` of its rows under `name` once it holds
    `sample_after(config)` of them."""

    name: str
    make_sink: Callable[[Any], Callable[[Any], None]]
    sample_after: Callable[[Any], int]


@dataclass(frozen=True)
class AgentKind:
    """What robokit knows of one algorithm before building it."""

    name: str
    config_class: type
    presets: Mapping[str, Any]
    build: Callable[[Any, EnvSpec], Agent]
    """(config, spec) -> the agent (this is where the JAX module is imported)."""
    learns_from_demos: bool = True
    """Online runs record or load demos, standardise the state by them, and mix them into batches."""
    buffers: tuple[ExtraBuffer, ...] = ()
    chunk: Callable[[Any], int | None] = lambda config: None
    """Env steps per action (an action chunk), or None for one step and no ActionChunk wrapper."""
    finetunes: bool = False
    """Starts from a saved run's policy (`--init RUN`, OGPO, FamO2O): its config and state are the
    run's, not a preset's. With learns_from_demos too, the datasets the --init run trained on
    ("data" in its config.json) stay in the mixer as its demos."""
    online: Callable[[Any], Any] = lambda config: config
    """The config a finetuned run's agent takes online, from its --init run's (FamO2O: online=True)."""
    tune: Callable[[Any, dict], Any] = lambda config, options: dataclasses.replace(config, **options)
    """How options given on the command line change a preset."""

    def configure(self, preset: str, options: Mapping[str, Any] | None = None):
        """The preset named `preset`, with the options that are not None over it."""
        if preset not in self.presets:
            raise ValueError(
                f"{self.name} has no preset {preset!r}: pass --preset {' or '.join(map(repr, self.presets))}."
            )
        given = {k: v for k, v in (options or {}).items() if v is not None}
        known = {f.name for f in dataclasses.fields(self.config_class)}
        unknown = sorted(set(given) - known)
        if unknown:
            raise ValueError(f"{self.name} takes no {', '.join(unknown)}: drop those options.")
        return self.tune(self.presets[preset], given)

    def config_from_json(self, fields: Mapping[str, Any]):
        """The config a run's config.json recorded (JSON lists back to the tuples they were)."""
        known = {f.name for f in dataclasses.fields(self.config_class)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items() if k in known}
        return self.config_class(**values)

    def steps_per_action(self, config) -> int:
        return self.chunk(config) or 1

    def wrap_env(self, env, config):
        """`env` as this agent acts in it: in action chunks where it acts in chunks."""
        from robokit.agents.chunking import chunked

        return chunked(env, self.chunk(config), getattr(config, "discount", 1.0))


def register(kind: AgentKind) -> AgentKind:
    """Make `kind` known by its name in this process (tests and notebooks; see the module doc)."""
    _registered[kind.name] = kind
    return kind


def agent_kind(name: str) -> AgentKind:
    """The AgentKind called `name` (a built-in, a registered one, or "module:KIND")."""
    name = ALIASES.get(name, name)
    if name in _registered:
        return _registered[name]
    target = BUILT_IN.get(name, name if ":" in name else None)
    if target is None:
        raise ValueError(f"there is no agent called {name!r}: use one of {', '.join(agent_names())}.")
    module, attribute = target.split(":")
    try:
        kind = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as err:
        raise ValueError(
            f"the agent {name!r} could not be imported ({err}): check its module path."
        ) from None
    return register(kind) if kind.name == name else kind


def agent_names() -> list[str]:
    return sorted(set(BUILT_IN) | set(_registered))


@dataclass(frozen=True)
class AgentChoice:
    """The algorithm and its options, as `robokit train`, `learner` and `actor` all take them."""

    algo: str = "sac"
    """Agent: sac (SAC/RLPD from demos), ogpo (finetune the flow policy of --init with OGPO; no
    demos online) or famo2o (finetune the offline FamO2O run of --init, its data kept in the mixer);
    or an outside agent as package.module:KIND."""
    preset: str = "cpu"
    """Agent preset: sac: 'cpu' (2 critics, UTD 4) or 'serl' (SERL's RLPD: 10 critics, UTD 8)."""
    critic_ensemble: int | None = None
    """Override the preset's number of critics."""
    utd_ratio: int | None = None
    """Override the preset's critic updates per env step."""
    bc_weight: float | None = None
    """Add a behaviour-cloning term on the demo rows to the actor loss, with this weight (default 0)."""
    init: Path | None = None
    """--algo ogpo / famo2o: the run `robokit pretrain --algo flow-bc / famo2o` wrote (finetuned)."""

    def options(self) -> dict:
        """The preset overrides given (None: not given)."""
        return {
            "critic_ensemble": self.critic_ensemble,
            "utd_ratio": self.utd_ratio,
            "bc_weight": self.bc_weight,
        }

    def init_run(self) -> Path:
        """The run a finetuning agent starts from; one sentence when none was given."""
        if self.init is None:
            start = "flow-bc" if self.algo == "ogpo" else self.algo
            raise ValueError(
                f"--algo {self.algo} finetunes a saved policy: pass --init RUN (e.g. from "
                f"`robokit pretrain --algo {start}`)."
            )
        return Path(self.init)
