"""Reset-free training: the forward/backward alternation, and that nothing puts the cube back."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from cli_run import robokit

from robokit.data.datasets import read_episodes
from robokit.envs.experts import make_expert
from robokit.envs.registration import make
from robokit.recipes.reset_free import DIRECTIONS, Alternation, evaluate_alternating
from robokit.rewards.classifier import LabelledFrames


def test_directions_alternate_and_only_the_first_reset_places_objects():
    alternation = Alternation()
    episodes = [alternation.next_episode() for _ in range(5)]
    assert [d for d, _ in episodes] == ["forward", "backward", "forward", "backward", "forward"]
    assert [o["keep_objects"] for _, o in episodes] == [False, True, True, True, True]
    assert all(o["direction"] == d for d, o in episodes)


def test_the_fallback_places_objects_only_after_enough_failed_resets_and_counts_it():
    from robokit.recipes.turns import Fallback

    def run(fallback, backward_outcomes):
        """Alternate episodes; backward ones end as given. Which forward resets placed objects?"""
        alternation, placed = Alternation(), []
        alternation.next_episode()  # the first reset places objects anyway
        fallback.episode_ended("forward", False)
        for succeeded in backward_outcomes:
            direction, options = alternation.next_episode()
            assert direction == "backward" and fallback.options(options) == options  # never before backward
            fallback.episode_ended(direction, succeeded)
            direction, options = alternation.next_episode()
            placed.append(not fallback.options(options)["keep_objects"])
            fallback.episode_ended(direction, False)
        return placed

    assert run(Fallback(None), [False] * 4) == [False] * 4
    twice = Fallback(2)
    assert run(twice, [False, False, False, True, False, False]) == [False, True, False, False, False, True]
    assert twice.interventions == 2
    assert run(Fallback(1), [True, False]) == [False, True]


class ExpertTurn:
    """The scripted expert standing in for a trained agent (it reads the task's current direction)."""

    def __init__(self, env):
        self.expert = make_expert(env, seed=0)

    def start_episode(self) -> None:
        self.expert.reset()

    def act(self, obs, explore=True):
        self.asked = getattr(self, "asked", set()) | {explore}
        return self.expert(obs)


def test_scattered_starts_cover_the_workspace_outside_the_goal_and_default_starts_do_not():
    from robokit.envs.tasks.relocate import REGION_RADIUS, REGIONS, START_SPREAD

    for direction, goal in (("forward", "b"), ("backward", "a")):
        starts = {}
        for scatter in (False, True):
            env = make("Relocate-v0", task_kwargs={"direction": direction, "scatter": scatter})
            positions = []
            for seed in range(20):
                env.reset(seed=seed)
                positions.append(env.unwrapped.task.object_pos()[:2])
            starts[scatter] = np.array(positions)
        home = REGIONS["a" if goal == "b" else "b"]
        assert np.abs(starts[False] - home).max() <= START_SPREAD + 1e-3
        spread = starts[True].max(axis=0) - starts[True].min(axis=0)
        assert spread[0] > 0.2 and spread[1] > 0.4, spread  # across the tray, both regions' sides
        assert np.linalg.norm(starts[True] - REGIONS[goal], axis=1).min() > REGION_RADIUS


def test_the_tray_keeps_a_pushed_cube_where_the_arm_can_still_grasp_it():
    """Pushed hard against each side, the cube stays on the tray's floor (the rim stops it; the
    task's safety box keeps the fingers inside), and the expert then relocates it from there."""
    from robokit.envs.tasks.relocate import SCATTER_HIGH, SCATTER_LOW, TCP_BOX

    env = make("Relocate-v0", task_kwargs={"direction": "backward"})
    task, expert = env.unwrapped.task, make_expert(env, seed=0)
    for axis, sign in ((0, 1.0), (0, -1.0), (1, 1.0), (1, -1.0)):
        env.reset(seed=0)
        cube = np.array([0.48, 0.0])
        task.world.set_free_body("object", np.array([*cube, 0.02]))
        push = np.zeros(4, np.float32)
        push[axis] = sign
        for t in range(60):  # behind the cube and down, then through it to the side and beyond
            tcp = task.tcp_pos()
            behind = np.array([*(cube - 0.06 * push[:2]), 0.025])
            action = np.clip((behind - tcp) / 0.03, -1, 1) if t < 25 else push[:3]
            env.step(np.array([*action, 1.0], np.float32))  # closed fingers: a paddle
            assert TCP_BOX.contains(task.tcp_pos(), tolerance=0.005)
        pos = task.object_pos()
        assert np.all(pos[:2] >= SCATTER_LOW - 0.02) and np.all(pos[:2] <= SCATTER_HIGH + 0.02), (
            pos
        )  # the rim
        assert abs(pos[axis] - cube[axis]) > 0.1, f"the push along axis {axis} did not move the cube: {pos}"
        env.reset(options={"direction": "forward", "keep_objects": True})
        expert.reset()
        for _ in range(env.spec.max_episode_steps):
            *_, terminated, truncated, info = env.step(expert(None))
            if terminated or truncated:
                break
        assert info["success"], f"the expert could not fetch the cube from {pos}"


def test_a_cube_flung_over_the_rim_stays_in_the_tray_and_the_cameras_do_not_see_the_fence():
    """A cube thrown at 2 m/s towards each side, over the 1.4 cm rim, lands back on the tray's floor
    (reset-free policies threw it out of reach), and the frames are those of the open tray."""
    from robokit.envs.tasks.relocate import SCATTER_HIGH, SCATTER_LOW

    env = make("RelocateVision-v0", camera_size=(32, 32))
    world = env.unwrapped.task.world
    for axis, sign in ((0, 1.0), (0, -1.0), (1, 1.0), (1, -1.0)):
        env.reset(seed=0)
        world.set_free_body("object", np.array([0.48, 0.0, 0.1]))
        dof = world.model.joint("object").dofadr[0]
        world.data.qvel[dof + axis] = 2.0 * sign
        world.data.qvel[dof + 2] = 1.0
        for _ in range(40):
            env.step(np.zeros(4, np.float32))
        pos = env.unwrapped.task.object_pos()
        assert np.all(pos[:2] >= SCATTER_LOW - 0.02) and np.all(pos[:2] <= SCATTER_HIGH + 0.02), pos
    fence = [world.model.geom(f"fence_{side}") for side in ("near", "far", "left", "right")]
    assert all(geom.group[0] == 3 for geom in fence)  # a group the cameras do not draw
    frames = env.reset(seed=0)[0]["front"]
    for geom in fence:
        world.model.geom_group[geom.id] = 0
        world.model.geom_rgba[geom.id] = (1, 0, 0, 1)
    assert not np.array_equal(env.reset(seed=0)[0]["front"], frames)  # drawn, it would show
    env.close()


def test_each_episode_starts_where_the_last_one_left_the_cube():
    env = make("Relocate-v0")
    task = env.unwrapped.task
    turns = {"forward": ExpertTurn(env), "backward": ExpertTurn(env)}
    alternation, ends = Alternation(), []
    for i in range(4):
        direction, options = alternation.next_episode()
        env.reset(seed=3 if i == 0 else None, options=options)
        if ends:  # the reset moved the arm home, not the cube
            assert np.linalg.norm(task.object_pos()[:2] - ends[-1][:2]) < 0.002
        assert task.direction == direction
        turns[direction].start_episode()
        done = False
        obs = None
        while not done:
            obs, _, terminated, truncated, info = env.step(turns[direction].act(obs))
            done = terminated or truncated
        assert info["success"], f"the expert's {direction} episode {i} failed"
        ends.append(task.object_pos().copy())
    assert task.in_region("a")  # forward, backward, forward, backward: back at the start
    env.close()


def test_alternating_evaluation_scores_each_direction_on_its_own_episodes():
    env = make("Relocate-v0")
    turns = {"forward": ExpertTurn(env), "backward": ExpertTurn(env)}
    result = evaluate_alternating(env, turns, 6, seed=11)
    assert result["forward"] >= 2 / 3 and result["backward"] >= 2 / 3 and result["episodes"] == 6
    assert result["success_rate"] == min(result["forward"], result["backward"])
    assert result["actions"] == "mean" and all(t.asked == {False} for t in turns.values())
    turns = {"forward": ExpertTurn(env), "backward": ExpertTurn(env)}
    result = evaluate_alternating(env, turns, 2, seed=11, sampled=True)  # acting as in training
    assert result["actions"] == "sampled" and all(t.asked == {True} for t in turns.values())
    env.close()


def test_reset_free_command_runs_and_refuses_bad_input(tmp_path):
    from robokit.envs.tasks.relocate import REGIONS, START_SPREAD

    result = robokit("train-reset-free", "--env", "PickCube-v0", "--run-dir", str(tmp_path / "r"))
    assert result.returncode == 2 and "use Relocate-v0" in result.stderr
    result = robokit(
        "train-reset-free", "--forward-classifier", str(tmp_path), "--run-dir", str(tmp_path / "r")
    )
    assert result.returncode == 2 and "or neither" in result.stderr
    result = robokit("train-reset-free", "--check-successes", "--run-dir", str(tmp_path / "r"))
    assert result.returncode == 2 and "pass --forward-classifier and --backward-classifier" in result.stderr
    run = tmp_path / "run"
    result = robokit(
        "train-reset-free", "--run-dir", str(run), "--num-demos", "1", "--max-env-steps", "300",
        "--eval-every", "300", "--stop-at-success", "1.1", "--final-eval-episodes", "4",
        "--fallback-reset-after", "1", "--eval-actions", "sampled",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    out = " ".join(result.stdout.split())
    assert "over 4 alternating episodes (objects placed once, sampled actions)" in out
    assert "scripted placements" in out
    final = json.loads((run / "evals.jsonl").read_text().splitlines()[-1])
    assert "interventions" in final and final["actions"] == "sampled"
    assert (run / "curve.png").exists() and (run / "checkpoints" / "backward").is_dir()
    saved = json.loads((run / "config.json").read_text())  # the defaults: one agent, BC on its demos
    assert saved["reset_free"]["shared_agent"] and saved["agent"]["bc_weight"] == 0.5
    # --resume goes on from the run's checkpoints, with this command's budget
    result = robokit("train-reset-free", "--resume", str(tmp_path))
    assert result.returncode == 2 and "holds no reset-free run" in result.stderr
    clf = ["--forward-classifier", str(tmp_path), "--backward-classifier", str(tmp_path)]
    result = robokit("train-reset-free", "--resume", str(run), *clf)
    assert result.returncode == 2 and "drop --forward- and --backward-classifier" in result.stderr
    result = robokit(
        "train-reset-free", "--resume", str(run), "--max-env-steps", "420", "--stop-at-success", "1.1",
        "--final-eval-episodes", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    finals = [json.loads(line) for line in (run / "evals.jsonl").read_text().splitlines()]
    finals = [row for row in finals if row.get("final")]
    assert [row["episodes"] for row in finals] == [4, 2] and finals[1]["env_steps"] >= 420
    # the run's policies label frames of their own behaviour (the hard negatives of a second round)
    frames = tmp_path / "frames"
    result = robokit(
        "record", "--env", "RelocateVision-v0", "--camera-size", "32", "--frames", "--episodes", "1",
        "--policy", str(run), "--out", str(frames),
    )  # fmt: skip
    assert result.returncode == 2 and "pick one with --direction forward" in result.stderr
    result = robokit(
        "record", "--env", "RelocateVision-v0", "--camera-size", "32", "--frames", "--episodes", "2",
        "--policy", str(run), "--direction", "backward", "--explore", "--out", str(frames),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    episodes = read_episodes(frames)
    labelled = LabelledFrames.from_episodes(episodes, ("front", "wrist"))
    assert len(episodes) == 2 and len(labelled) == sum(len(ep) + 1 for ep in episodes)
    assert labelled.images["front"].shape[1:] == (32, 32, 3)
    spec = json.loads((run / "config.json").read_text())["spec"]
    policy_input = {key: tuple(shape) for key, shape, _ in spec["observations"]}
    assert episodes[0].observations["state"].shape[1:] == policy_input["state"]  # object features kept
    # demos and frames from where reset-free episodes start: anywhere on the tray
    result = robokit(
        "record", "--env", "Relocate-v0", "--episodes", "3", "--scattered", "--out", str(tmp_path / "s")
    )
    assert result.returncode == 2 and "add --direction" in result.stderr
    scattered = tmp_path / "scattered"
    result = robokit(
        "record", "--env", "Relocate-v0", "--episodes", "4", "--direction", "forward", "--scattered",
        "--out", str(scattered),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    starts = np.array([ep.observations["state"][0, 7:9] for ep in read_episodes(scattered)])
    assert np.abs(starts - REGIONS["a"]).max() > 2 * START_SPREAD, starts
    # ... and take turns as in training (objects placed once), one dataset per direction
    alternating = tmp_path / "alternating"
    args = ["record", "--env", "RelocateVision-v0", "--camera-size", "32", "--frames", "--episodes", "2"]
    result = robokit(*args, "--policy", str(run), "--alternate", "--direction", "forward")
    assert result.returncode == 2 and "no --direction" in result.stderr
    result = robokit(*args, "--policy", str(run), "--alternate", "--out", str(alternating))
    assert result.returncode == 0, result.stderr[-2000:]
    for direction in ("forward", "backward"):
        (episode,) = read_episodes(alternating / direction)
        assert "success" in episode.infos and episode.observations["front"].shape[1:] == (32, 32, 3)


def test_a_shared_agent_learns_from_both_directions_demos_and_episodes(tmp_path):
    from robokit.envs.recording import record_expert
    from robokit.recipes.reset_free import ResetFreeConfig, train_reset_free
    from robokit.runs import checkpoint

    def make_env(direction="forward", scatter=False):
        return make("Relocate-v0", task_kwargs={"direction": direction, "scatter": scatter})

    demos = {
        d: record_expert("Relocate-v0", 1, tmp_path / d, make_env=lambda d=d: make_env(d, True)).path
        for d in ("forward", "backward")
    }
    demo_steps = sum(len(ep) for d in demos.values() for ep in read_episodes(d))
    config = ResetFreeConfig(
        max_env_steps=300, start_after=100, eval_every=300, final_eval_episodes=2, shared_agent=True
    )
    result = train_reset_free(config, make_env, tmp_path / "run", demos, say=lambda _: None)
    total = sum(result.env_steps.values())
    assert result.env_steps["forward"] > 0 and result.env_steps["backward"] > 0
    for direction in ("forward", "backward"):  # one agent: each direction's checkpoint holds it all
        latest = checkpoint.latest(tmp_path / "run" / "checkpoints" / direction)
        with np.load(latest / "buffer_online.npz") as online, np.load(latest / "buffer_demos.npz") as held:
            assert int(online["counters"][1]) == total and int(held["counters"][1]) == demo_steps


def test_an_interrupted_reset_free_run_resumes_with_its_agents_counters_and_scene(tmp_path):
    import os
    import signal

    from robokit.envs.recording import record_expert
    from robokit.recipes.reset_free import ResetFreeConfig, train_reset_free
    from robokit.runs import checkpoint

    resets, runs = [], []  # (run, cube position after each reset); the runs finished so far

    def make_env(direction="forward", scatter=False):
        env = make("Relocate-v0", task_kwargs={"direction": direction, "scatter": scatter})
        reset = env.reset

        def recording_reset(**kwargs):
            out = reset(**kwargs)
            resets.append((len(runs), env.unwrapped.task.object_pos().copy()))
            return out

        env.reset = recording_reset
        return env

    demos = {
        d: record_expert("Relocate-v0", 1, tmp_path / d, make_env=lambda d=d: make_env(d)).path
        for d in DIRECTIONS
    }
    config = ResetFreeConfig(
        max_env_steps=600, start_after=100, eval_every=250, eval_episodes=2, final_eval_episodes=2,
        stop_at_success=None, shared_agent=False,
    )  # fmt: skip
    run = tmp_path / "run"

    def interrupt_at_first_evaluation(line: str) -> None:
        if "env steps:" in line:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C: handled by the run, which stops cleanly

    first = train_reset_free(config, make_env, run, demos, say=interrupt_at_first_evaluation)
    assert first.final_eval is None and 250 <= sum(first.env_steps.values()) < 600

    def counters(direction: str) -> dict:
        return json.loads((checkpoint.latest(run / "checkpoints" / direction) / "counters.json").read_text())

    loop = counters("forward")["loop"]
    assert loop["steps"] == first.env_steps and loop == counters("backward")["loop"]
    updates_before = counters("forward")["updates"]
    runs.append(first)
    second = train_reset_free(config, make_env, run, demos, say=lambda _: None, resume=True)
    assert second.final_eval is not None and sum(second.env_steps.values()) >= 600
    assert all(second.env_steps[d] > first.env_steps[d] for d in DIRECTIONS)
    resumed_resets = [pos for r, pos in resets if r == 1]
    # the resumed run's first reset (the eval env resets too, after it) finds the cube where it was
    assert np.allclose(resumed_resets[0], loop["objects"][0][:3], atol=1e-6)
    after = counters("forward")
    assert after["updates"] > updates_before and after["loop"]["episodes"] > loop["episodes"]
    for direction in DIRECTIONS:  # each learner and buffer holds both runs' steps of its direction
        assert counters(direction)["learner_env_steps"] == second.env_steps[direction]
        with np.load(checkpoint.latest(run / "checkpoints" / direction) / "buffer_online.npz") as online:
            assert int(online["counters"][1]) == second.env_steps[direction]
    assert len([row for row in second.evals if not row.get("final")]) >= 2  # both runs' evaluations
    # a checkpoint written before runs could resume (no loop state) is one sentence
    old = tmp_path / "old"
    shutil.copytree(run, old)
    for direction in DIRECTIONS:
        counters_file = checkpoint.latest(old / "checkpoints" / direction) / "counters.json"
        counters_file.write_text(
            json.dumps({k: v for k, v in json.loads(counters_file.read_text()).items() if k != "loop"})
        )
    with pytest.raises(ValueError, match="before reset-free runs could resume"):
        train_reset_free(config, make_env, old, demos, say=lambda _: None, resume=True)


def test_a_direction_without_a_single_successful_demo_is_one_sentence(tmp_path, monkeypatch):
    """A reset classifier that ends every expert episode early (a false success) leaves no demos of
    that direction; training must not go on without them."""
    from robokit.cli.reset_free import TrainResetFree, run
    from robokit.envs import recording

    def no_successes(env_id, episodes, out, **kwargs):
        return recording.RecordSummary(path=None, attempts=5 * episodes, successes=0, recorded=0)

    monkeypatch.setattr(recording, "record_expert", no_successes)
    with pytest.raises(RuntimeError, match="none of 10 scripted-expert forward episodes ended in success"):
        run(TrainResetFree(num_demos=2, run_dir=tmp_path / "run"))
