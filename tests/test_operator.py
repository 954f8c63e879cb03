"""The simulated operator (envs/operator.py) on PackCubes: silent while things go right, and the
correction a person would give, after a person's reaction time, when they do not."""

from __future__ import annotations

import numpy as np

from robokit.envs.experts import make_expert, run_episode, toward
from robokit.envs.operator import OperatorConfig, SimulatedOperator
from robokit.envs.tasks.pack_cubes import PICK, PLACE


def test_the_operator_stays_silent_while_the_expert_packs_the_cubes(make_env):
    env = make_env("PackCubes-v0")
    expert, said = make_expert(env), []
    operator = SimulatedOperator(env.unwrapped.task, said.append)
    for seed in range(5):
        operator.reset()
        for step in run_episode(env, expert, seed=seed):
            if step[1] is not None:
                operator.watch(expert.running)
        assert step[5]["success"]
    assert said == []


def test_the_wrong_cube_is_corrected_after_the_reaction_time_not_before(make_env):
    env = make_env("PackCubes-v0")
    expert, said = make_expert(env), []
    operator = SimulatedOperator(env.unwrapped.task, said.append, OperatorConfig(reaction_steps=10))
    env.reset(seed=1)
    expert.reset()
    expert.instruction = PICK["blue"]  # the policy goes for the wrong cube
    heard_at = None
    for step in range(1, 20):
        env.step(expert())
        if operator.watch(expert.running) and heard_at is None:
            heard_at = step
    assert said == [PICK["red"]] and heard_at == 10


def test_a_policy_dithering_between_the_right_and_the_wrong_cube_is_corrected(make_env):
    """A condition seen on every other step is seen, as a person sees a policy that hesitates: on
    reaction_steps of the last 2 x reaction_steps steps."""
    env = make_env("PackCubes-v0")
    expert, said = make_expert(env), []
    operator = SimulatedOperator(env.unwrapped.task, said.append, OperatorConfig(reaction_steps=5))
    env.reset(seed=1)
    expert.reset()
    heard_at = None
    for step in range(1, 20):
        env.step(expert())
        told = PICK["blue"] if step % 2 else PICK["red"]  # the instructor flips every step
        if operator.watch(told) and heard_at is None:
            heard_at = step
    assert said == [PICK["red"]] and heard_at == 9


def test_a_policy_that_holds_the_cube_and_picks_on_is_sent_to_the_bin(make_env):
    env = make_env("PackCubes-v0")
    expert, said = make_expert(env), []
    task = env.unwrapped.task
    operator = SimulatedOperator(task, said.append, OperatorConfig(reaction_steps=5))
    env.reset(seed=1)
    expert.reset()
    expert.follow(PICK["red"], 80)  # the high level never moves on from the pick
    held_at = None
    for step in range(80):
        env.step(expert())
        held_at = step if held_at is None and task.held("red") else held_at
        if operator.watch(PICK["red"]):
            break
    assert held_at is not None and said == [PLACE] and step >= held_at + 5


def test_hovering_beside_the_cube_is_corrected_towards_it_at_a_persons_pace(make_env):
    env = make_env("PackCubes-v0")
    task = env.unwrapped.task
    said = []
    operator = SimulatedOperator(task, said.append, OperatorConfig(reaction_steps=5, min_gap_steps=20))
    env.reset(seed=2)
    scale = env.unwrapped.config.action_scale
    for _ in range(60):  # hover 3 cm to the right of (below, in y) the red cube, gripper open
        goal = task.cube_pos("red") + np.array([0.0, -0.03, 0.06])
        env.step(np.concatenate([toward(task.tcp_pos(), goal, scale), [-1.0]]).astype(np.float32))
        operator.watch(PICK["red"])
    assert said[0] == "move a bit to the left"
    assert len(said) <= 3  # at most one correction every 2 s (60 steps: 6 s)


def _hover(env, offset, grip: float, instruction: str, operator, steps: int = 30) -> None:
    task, scale = env.unwrapped.task, env.unwrapped.config.action_scale
    for _ in range(steps):
        goal = task.cube_pos("red") + np.asarray(offset)
        env.step(np.concatenate([toward(task.tcp_pos(), goal, scale), [grip]]).astype(np.float32))
        operator.watch(instruction)


def test_an_empty_hand_sent_to_the_bin_and_a_gripper_closed_on_nothing_are_corrected(make_env):
    env = make_env("PackCubes-v0")
    said = []
    operator = SimulatedOperator(env.unwrapped.task, said.append, OperatorConfig(reaction_steps=5))
    env.reset(seed=3)
    _hover(env, [0.0, 0.0, 0.1], -1.0, PLACE, operator)  # the high level thinks the cube is held
    assert said[0] == PICK["red"]
    for instruction in (PLACE, PICK["red"]):  # the fingers closed on nothing: open them first
        said.clear()
        operator.reset()
        _hover(env, [0.0, 0.0, 0.08], 1.0, instruction, operator)
        assert said[0] == "open the gripper"
    said.clear()
    operator.reset()
    _hover(env, [0.0, 0.0, 0.08], -1.0, PICK["red"], operator)  # open, right above it: all well
    assert said == []


def test_a_new_order_changes_the_plan_success_and_what_the_operator_asks_for(make_env):
    env = make_env("PackCubes-v0")
    task, said = env.unwrapped.task, []
    operator = SimulatedOperator(task, said.append, OperatorConfig(reaction_steps=3))
    env.reset(seed=4)
    task.order = ("blue", "red")  # today the user wants the blue cube first
    assert task.instruction() == PICK["blue"]
    for _ in range(3):
        env.step(np.zeros(4, np.float32))
        operator.watch(PICK["red"])  # a high level trained on red-first demos
    assert said == [PICK["blue"]]
    task.packed = ["red", "blue"]
    assert not task.success()
    task.packed = ["blue", "red"]
    assert task.success()
