"""The agent registry: an agent from the tests folder trains, checkpoints, resumes and evaluates
through the real Learner, Actor (built in-process by build_actor) and zmq link, with no change to
robokit's core."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest
import tiny_agent
from tiny_task import PointGoal

from robokit.agents.base import agent_kind, register
from robokit.loop.build import ActorOptions, build_actor
from robokit.loop.evaluation import evaluate
from robokit.recipes.online import train
from robokit.recipes.online_config import TrainConfig
from robokit.runs import checkpoint
from robokit.runs.policy import load_policy


class ThreadActors:
    """Actors built in this process by build_actor, one thread each (as another launcher would)."""

    def __init__(self, actors: list[ActorOptions]):
        self.stopping = threading.Event()
        self.runs = [build_actor(options, PointGoal) for options in actors]
        self.steps: list[int] = []
        self.threads = [threading.Thread(target=self._run, args=(run,)) for run in self.runs]
        for thread in self.threads:
            thread.start()

    def _run(self, run) -> None:
        self.steps.append(run.run(self.stopping.is_set, say=lambda line: None))

    def check(self) -> list[str]:
        return [f"actor thread {i} stopped" for i, t in enumerate(self.threads) if not t.is_alive()]

    def stop(self) -> None:
        self.stopping.set()
        for run in self.runs:
            run.link.release()
        for thread in self.threads:
            thread.join(30)
        for run in self.runs:
            run.close()


def test_a_registered_agent_trains_resumes_and_evaluates_through_the_real_loops(tmp_path):
    register(tiny_agent.KIND)
    run = tmp_path / "run"
    config = TrainConfig(
        algo="tiny", env="PointGoal", max_env_steps=300, start_after=50, eval_every=150, eval_episodes=2,
        final_eval_episodes=3, checkpoint_every=100, stop_at_success=None, actors=1, run_dir=run,
    )  # fmt: skip
    fleets: list[ThreadActors] = []

    def start_actors(address: str, run_config: TrainConfig) -> ThreadActors:
        options = ActorOptions(
            algo=run_config.algo,
            preset=run_config.preset,
            learner=address,
            spool_dir=tmp_path / "spool",
            seed=1,
        )
        fleets.append(ThreadActors([options]))
        return fleets[-1]

    first = train(config, PointGoal, None, start_actors=start_actors, say=lambda line: None)
    assert first.env_steps >= 300 and first.updates > 0 and first.final_eval["episodes"] == 3
    assert fleets[0].steps and fleets[0].steps[0] >= 300  # the in-process actor did the stepping
    assert json.loads((run / "config.json").read_text())["algo"] == "tiny"
    counters = json.loads((checkpoint.latest(run / "checkpoints") / "counters.json").read_text())
    assert counters["env_steps"] == first.env_steps and len(counters["link_applied"]) == 1
    # resume: the same agent from the run folder, counters and buffers carry on
    resumed = dataclasses.replace(config, run_dir=None, resume=run, max_env_steps=500)
    second = train(resumed, PointGoal, None, start_actors=start_actors, say=lambda line: None)
    assert second.env_steps >= 500 and second.updates > first.updates
    # evaluate the run folder's policy: rebuilt through the registry from config.json
    policy = load_policy(run)
    assert isinstance(policy.agent, tiny_agent.TinyAgent) and policy.env_id == "PointGoal"
    assert policy.chunk is None
    result = evaluate(PointGoal(), policy.agent, policy.params, episodes=4)
    assert result["episodes"] == 4 and 0.0 <= result["success_rate"] <= 1.0


def test_agents_are_found_by_name_or_module_path_and_bad_names_are_one_sentence():
    assert agent_kind("sac").name == "sac" and agent_kind("flow-bc").name == "ogpo"
    assert agent_kind("tiny_agent:KIND") is tiny_agent.KIND
    with pytest.raises(ValueError, match=r"there is no agent called 'nope': use one of .*ogpo.*sac"):
        agent_kind("nope")
    with pytest.raises(ValueError, match="could not be imported"):
        agent_kind("no_such_module:KIND")
    with pytest.raises(ValueError, match="sac takes no learning_rate: drop those options"):
        agent_kind("sac").configure("cpu", {"learning_rate": 0.1})
    with pytest.raises(ValueError, match="has no preset 'fast'"):
        agent_kind("sac").configure("fast")
    assert agent_kind("sac").configure("cpu", {"critic_ensemble": 1}).critic_subsample == 1


def test_actor_options_round_trip_through_the_actor_commands_flags():
    import tyro

    options = ActorOptions(learner="127.0.0.1:5", algo="ogpo", init=Path("runs/bc"), actor_id=3, paced=False)
    assert tyro.cli(ActorOptions, args=options.argv()) == options
    assert options.argv() == [
        "--learner",
        "127.0.0.1:5",
        "--algo",
        "ogpo",
        "--init",
        "runs/bc",
        "--actor-id",
        "3",
        "--no-paced",
    ]
