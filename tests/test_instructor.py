"""The high-level instructor (robokit.language.instructor) and instruction-annotated demos of
PackCubes (envs/instructed_demos.py): recorded with a simulated operator's corrections, learned to
well above chance on held-out episodes, saved and loaded, and driving the scripted skills to success."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sentence_transformers", reason="pip install 'robokit[language]'")

from robokit.data.datasets import read_episodes
from robokit.envs.experts import make_expert
from robokit.envs.instructed_demos import instructed_env, record_instructed
from robokit.envs.registration import make
from robokit.envs.tasks.pack_cubes import INSTRUCTIONS, MOVES, PICK
from robokit.language.encoder import EmbeddingTable
from robokit.language.instructor import (
    Instructor,
    InstructorConfig,
    instructing,
    instructor_examples,
    train_instructor,
)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("instructed")
    table = EmbeddingTable.open(folder / "instructions.npz")
    summary = record_instructed("PackCubes-v0", 10, folder / "demos", table, seed=0, aim_error=0.02)
    return summary, read_episodes(summary.path), table


def test_instructed_demos_carry_each_steps_instruction_and_the_operators_corrections(recorded):
    summary, episodes, table = recorded
    assert summary.episodes == 10 and summary.successes >= 7 and summary.corrections > 0
    vectors = table.embed_all(list(INSTRUCTIONS))
    for episode in episodes:
        ids = episode.infos["instruction_id"]
        # observation t carries the embedding of the instruction its info names
        np.testing.assert_allclose(episode.observations["instruction"], vectors[ids], atol=1e-6)
    said = {INSTRUCTIONS[i] for e in episodes for i in e.infos["instruction_id"][e.infos["corrected"]]}
    assert said & set(MOVES), said  # the operator's fine corrections are in the demos


def test_the_instructor_predicts_held_out_instructions_saves_and_drives_the_skills(recorded, tmp_path):
    _, episodes, table = recorded
    vectors = table.embed_all(list(INSTRUCTIONS))
    config = InstructorConfig(steps=800, seed=0)
    train, held_out = instructor_examples(episodes[:7], config), instructor_examples(episodes[7:], config)
    instructor = train_instructor(train, vectors, config)
    chance = np.bincount(held_out[1]).max() / len(held_out[1])
    accuracy = instructor.accuracy(held_out, vectors)
    assert accuracy > 0.85 and accuracy > chance + 0.3, (accuracy, chance)
    instructor.save(tmp_path / "instructor", list(INSTRUCTIONS), vectors)
    loaded, texts = Instructor.load(tmp_path / "instructor")
    assert texts == list(INSTRUCTIONS)
    np.testing.assert_allclose(
        loaded.logits(held_out[0][:5], vectors), instructor.logits(held_out[0][:5], vectors)
    )
    # the learned high level over the scripted skills: the instruction it chooses is what runs
    env = instructing(tmp_path / "instructor")(make("PackCubes-v0"))  # its own table: no encoder
    expert, successes = make_expert(env), 0
    for seed in range(100, 105):
        obs, info = env.reset(seed=seed)
        expert.reset()
        for _ in range(200):
            expert.instruction = info["instruction"]
            obs, _, terminated, truncated, info = env.step(expert(obs))
            if terminated or truncated:
                break
        successes += bool(info["success"])
    assert successes >= 4
    assert instructed_env(make("PackCubes-v0"), table).known == list(INSTRUCTIONS)
    with pytest.raises(ValueError, match="another task's states"):
        instructing(tmp_path / "instructor")(make("PickCube-v0"))
    with pytest.raises(ValueError, match="holds no instructor"):
        instructing(tmp_path)


def test_robokit_record_instructed_writes_annotated_demos_and_refuses_a_task_without_instructions(tmp_path):
    from cli_run import robokit

    done = robokit(
        "record", "--env", "PackCubes-v0", "--instructed", "--episodes", "2", "--out", str(tmp_path / "d")
    )
    assert done.returncode == 0, done.stderr
    episodes = read_episodes(tmp_path / "d")
    assert len(episodes) == 2 and episodes[0].observations["instruction"].shape[1] == 384
    assert (tmp_path / "d-instructions.npz").exists() and "2/2 successes" in done.stdout
    done = robokit(
        "record", "--env", "PegInsert-v0", "--instructed", "--episodes", "1", "--out", str(tmp_path / "p")
    )
    assert done.returncode == 2 and "has no instructions: use PackCubes-v0, PickCube-v0" in done.stderr


def test_robokit_pretrain_clones_a_low_level_reading_the_instruction_of_annotated_demos(recorded, tmp_path):
    from cli_run import robokit

    from robokit.runs.policy import load_policy

    summary, _, _ = recorded
    tiny = ["--steps", "30", "--eval-every", "30", "--eval-episodes", "1", "--act-noise", "0"]
    data, run = ["--data", str(summary.path)], ["--run-dir", str(tmp_path / "low")]
    done = robokit("pretrain", "--env", "PackCubes-v0", *data, *run, *tiny)
    assert done.returncode == 0, done.stderr[-2000:]
    observed = dict((k, shape) for k, shape, _ in load_policy(tmp_path / "low").agent.spec.observations)
    assert observed["instruction"] == (384,) and "state" in observed


@pytest.mark.parametrize("env_id", ["PickCube-v0", "Relocate-v0"])
def test_pick_cube_and_relocate_demos_are_annotated_with_the_steps_in_order(recorded, env_id, tmp_path):
    """The annotations read from the simulator (envs/tasks/told.py) follow the expert through the
    pick (and place) step by step; practice corrections interrupt it and it goes on."""
    from robokit.envs.tasks.told import PICK_STEPS, PLACE_STEPS

    _, _, table = recorded
    summary = record_instructed(env_id, 3, tmp_path / "d", table, seed=3, practice=0.05)
    steps = PICK_STEPS if env_id == "PickCube-v0" else (*PICK_STEPS, *PLACE_STEPS)
    texts = make(env_id).unwrapped.task.instructions
    assert summary.successes == 3
    for episode in read_episodes(summary.path):
        told = episode.infos["corrected"].astype(bool)
        plan = [texts[i] for i in episode.infos["instruction_id"][~told]]
        changes = [t for k, t in enumerate(plan) if k == 0 or t != plan[k - 1]]
        assert changes[0] == steps[0] and changes[-1] == steps[-1] and set(changes) <= set(steps)
        firsts = [changes.index(step) for step in steps]
        assert firsts == sorted(firsts)  # every step, each first met in the skill's order


def test_train_instructor_trains_then_finetunes_on_corrections_reporting_held_out_accuracy(
    recorded, tmp_path
):
    from cli_run import robokit

    summary, _, _ = recorded
    done = robokit(
        "train-instructor", "--data", str(summary.path), "--out", str(tmp_path / "i1"), "--steps", "300"
    )
    assert done.returncode == 0, done.stderr
    assert "held-out accuracy" in done.stdout and (tmp_path / "i1" / "instructor.json").exists()
    args = ["--start", str(tmp_path / "i1"), "--corrections", str(summary.path), "--steps", "100"]
    done = robokit("train-instructor", "--data", str(summary.path), "--out", str(tmp_path / "i2"), *args)
    assert done.returncode == 0, done.stderr
    assert "before: held-out accuracy" in done.stdout and "of them corrected" in done.stdout


def test_practice_corrections_put_each_fine_correction_into_the_demos(recorded, tmp_path):
    _, _, table = recorded
    summary = record_instructed("PackCubes-v0", 2, tmp_path / "practice", table, seed=7, practice=0.2)
    episodes = read_episodes(summary.path)
    said = [INSTRUCTIONS[i] for e in episodes for i in e.infos["instruction_id"][e.infos["corrected"]]]
    assert len(set(said) & set(MOVES)) >= 3 and set(said) <= {*MOVES, "open the gripper", *PICK.values()}
    assert all(np.array_equal(e.infos["practice"], e.infos["corrected"]) for e in episodes)
    # the instructor is not taught to say them: no example's label is a practice step's instruction
    config = InstructorConfig(ahead=0)
    _, labels = instructor_examples(episodes, config)
    assert not set(INSTRUCTIONS[i] for i in labels) & set(MOVES)
    kept = sum(len(e) - int(e.infos["practice"][:-1].sum()) for e in episodes)
    assert len(labels) == kept


def test_robokit_train_runs_actor_processes_under_a_saved_instructor(recorded, tmp_path):
    """The learner, an actor process and the zmq link carry the instruction entry like any other:
    `robokit train --instructor DIR` (demos, buffer and checkpoints hold the embeddings)."""
    import json

    from cli_run import robokit

    from robokit.runs import checkpoint

    _, episodes, table = recorded
    vectors = table.embed_all(list(INSTRUCTIONS))
    config = InstructorConfig(steps=100)
    instructor = train_instructor(instructor_examples(episodes, config), vectors, config)
    instructor.save(tmp_path / "instructor", list(INSTRUCTIONS), vectors)
    run = tmp_path / "run"
    tiny = ["--max-env-steps", "300", "--start-after", "100", "--eval-every", "300", "--eval-episodes", "1"]
    tiny += ["--final-eval-episodes", "1", "--num-demos", "1", "--utd-ratio", "1"]
    done = robokit(
        "train", "--env", "PackCubes-v0", "--instructor", str(tmp_path / "instructor"),
        "--run-dir", str(run), "--actors", "1", *tiny,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "actor 0 connected" in done.stdout
    with np.load(checkpoint.latest(run / "checkpoints") / "buffer_online.npz") as buffer:
        stored = buffer["obs/instruction"][: int(buffer["counters"][1])]
    known = {tuple(np.round(v, 5)) for v in vectors}
    assert len(stored) >= 300 and all(tuple(np.round(v, 5)) in known for v in stored)
    assert json.loads((run / "config.json").read_text())["train"]["instructor"].endswith("instructor")
    wrong = robokit("train", "--env", "PickCube-v0", "--instructor", str(tmp_path / "instructor"), *tiny)
    assert wrong.returncode != 0 and "another task's states" in wrong.stderr
