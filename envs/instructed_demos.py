"""Instruction-annotated demos of a task with instructions (PackCubes, PickCube, Relocate), as Minari.

The scripted expert runs the instruction in force at each step (the task's plan, or an operator's
correction); the env is instructed (robokit.language.instructed), so every observation carries the
embedding of the instruction the next action follows, and the info beside it (infos[t] for
observation t) its `instruction_id` (index in the task's instructions) and whether it was
`corrected`. With `aim_error`, the expert's pick skill misses by 1-2 aim_errors, as an imperfect
policy does, and a simulated operator (envs/operator.py) corrects it: the demos then teach the fine
corrections as well as the skills.

    table = EmbeddingTable.open(out_dir / "instructions.npz")
    summary = record_instructed("PackCubes-v0", 50, out_dir / "demos", table, aim_error=0.02)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robokit.data.datasets import Episode, EpisodeRecorder, check_output_dir, write_dataset
from robokit.envs.experts import make_expert
from robokit.envs.operator import OperatorConfig, SimulatedOperator
from robokit.envs.registration import make
from robokit.envs.tasks import PackCubes
from robokit.envs.tasks.pack_cubes import MOVES, ORDER, PICK, correction_steps
from robokit.language.encoder import EmbeddingTable
from robokit.language.instructed import Instructed


def instructed_env(env, table: EmbeddingTable) -> Instructed:
    """A task with instructions as an instructed env whose instructor is the task's own plan."""
    task = env.unwrapped.task
    if not getattr(task, "instructions", None):
        raise ValueError(
            f"{type(task).__name__} has no instructions: use PackCubes-v0, PickCube-v0 or Relocate-v0."
        )
    return Instructed(env, table, lambda obs: task.instruction(), known=task.instructions)


@dataclass(frozen=True)
class InstructedSummary:
    path: Path | None
    episodes: int
    successes: int
    corrections: int


def practised(task) -> list[str]:
    """What practice draws from: the moves; opening the gripper (a dropped cube is then picked
    again); and in PackCubes (each for PRACTICE_SKILL_STEPS), while a cube is to be picked, the
    other one's pick if it is still on the table (so that each pick is seen from states the other
    leads to), and while one is carried, its own pick (told to pick what it holds, the skill holds
    on to it, as a pick said by an operator and still in force after the grasp asks)."""
    if not isinstance(task, PackCubes):
        return [*MOVES, "open the gripper"]
    cube = task.next_cube()
    if task.instruction() in PICK.values():
        skills = [PICK[c] for c in task.order if c != cube and c not in task.packed]
    else:
        skills = [PICK[c] for c in PICK if task.held(c)]
    return [*MOVES, "open the gripper", *skills]


def demo_order(seed: int) -> tuple[str, ...]:
    """The order a mixed-order demo (record_instructed's `mixed_order`) packs the cubes in: drawn
    from its seed, each order equally likely, so that a reader of the dataset can tell it again."""
    return tuple(str(c) for c in np.random.default_rng([seed, 11]).permutation(ORDER))


#: steps a practised skill runs for: long enough to grasp and lift the other cube (then the plan's
#: pick drops it: the demos show each cube picked while the other is still on the table)
PRACTICE_SKILL_STEPS = 20


def record_instructed_episode(
    env: Instructed, expert, operator: SimulatedOperator | None, seed: int, practice: float = 0.0
) -> Episode:
    """One episode; the operator (if any) watches every step and its corrections are run at once.
    With `practice` > 0, at that rate per step (while no correction runs) a random fine correction
    is said as well, so that the demos show each of them in the states the task goes through."""
    recorder = EpisodeRecorder()
    obs, info = env.reset(seed=seed)
    expert.reset()
    if operator is not None:
        operator.reset()
    recorder.start(obs, info, seed=seed)
    rng = np.random.default_rng(seed)
    while True:
        said = operator.watch(info["instruction"]) if operator is not None else None
        drill = said is None and practice > 0 and not info["corrected"] and rng.random() < practice
        if drill:
            said = str(rng.choice(practised(env.unwrapped.task)))
        if said is not None:
            steps = PRACTICE_SKILL_STEPS if drill and said in PICK.values() else correction_steps(said)
            obs, _, _ = env.correct(obs, said, env.table.embed(said), steps, practice=drill)
            info = {**info, **env.instruction_info(said)}
            recorder.revise_last(obs, info)  # the action follows the correction
            expert.follow(said, steps)
        action = expert(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        recorder.add(action, obs, reward, terminated, truncated, info)
        if terminated or truncated:
            return recorder.finish()


def record_instructed(
    env_id: str,
    episodes: int,
    out: Path,
    table: EmbeddingTable,
    seed: int = 0,
    aim_error: float = 0.0,
    operator: OperatorConfig | None = None,
    noise: float = 0.0,
    practice: float = 0.0,
    mixed_order: bool = False,
) -> InstructedSummary:
    """Record `episodes` episodes (episode i from seed + i); with `aim_error` > 0 a simulated
    operator (`operator`, default OperatorConfig()) corrects the expert's misses; `practice` adds
    random fine corrections at that rate per step (record_instructed_episode). With `mixed_order`
    each episode packs the cubes in the order demo_order(its seed) draws, as demos recorded by
    someone who did not mind the order: they teach every skill from every stage, not the order."""
    out = check_output_dir(out)
    env = instructed_env(make(env_id), table)
    packing = isinstance(env.unwrapped.task, PackCubes)
    if (aim_error > 0 or operator is not None or mixed_order) and not packing:
        env.close()
        raise ValueError("--aim-error, a simulated operator and mixed orders are PackCubes-v0's: drop them.")
    expert = make_expert(env, noise=noise, seed=seed, **({"aim_error": aim_error} if packing else {}))
    watcher = None
    if aim_error > 0 or operator is not None:
        watcher = SimulatedOperator(
            env.unwrapped.task, lambda text: None, operator or OperatorConfig(seed=seed)
        )
    kept, successes, corrections = [], 0, 0
    for i in range(episodes):
        if packing:
            env.unwrapped.task.order = demo_order(seed + i) if mixed_order else ORDER
        episode = record_instructed_episode(env, expert, watcher, seed + i, practice)
        kept.append(episode)
        successes += episode.success
        corrections += int(episode.infos["corrected"].sum()) if "corrected" in episode.infos else 0
    description = (
        f"{episodes} instruction-annotated scripted-expert episodes of {env_id} (aim error {aim_error} m, "
        f"practice corrections {practice} a step, {'mixed' if mixed_order else 'red-first'} order, "
        f"{'with' if watcher else 'without'} a simulated operator's corrections)"
    )
    path = write_dataset(
        out, kept, env.observation_space, env.action_space, env=env,
        algorithm_name="robokit scripted expert + simulated operator", description=description,
    )  # fmt: skip
    env.close()
    return InstructedSummary(path, episodes, successes, corrections)
