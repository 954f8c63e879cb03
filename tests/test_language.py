"""Language corrections: the real sentence encoder, the instruction table, instructed envs, and the
corrections channel (robokit say -> learner -> actor) over the real zmq link."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sentence_transformers", reason="pip install 'robokit[language]'")

from link_peers import RawActor

from robokit.envs.registration import make
from robokit.language.encoder import EMBEDDING_DIM, EmbeddingTable, SentenceEncoder, check_text
from robokit.language.instructed import Instructed
from robokit.link import wire
from robokit.link.corrections import SaidLog, read_correction, say_message
from robokit.link.zmq_actor import ZmqActorLink
from robokit.link.zmq_learner import ZmqLearnerLink
from robokit.loop.actor import Actor
from robokit.types import EnvSpec

TASK = "pick up the cube"
VOCABULARY = (TASK, "move a bit to the left", "move a bit to the right", "go lower", "open the gripper")


@pytest.fixture(scope="module")
def encoder():
    return SentenceEncoder()


@pytest.fixture(scope="module")
def unit():
    """A unit vector standing in for an embedding where the text's meaning does not matter."""
    vector = np.random.default_rng(0).normal(size=EMBEDDING_DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_the_encoder_gives_one_embedding_per_string_and_tells_instructions_apart(encoder):
    vectors = encoder.encode([*VOCABULARY, TASK])
    assert vectors.shape == (len(VOCABULARY) + 1, EMBEDDING_DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[-1], atol=1e-6)  # the same string, the same vector
    cosines = vectors[:-1] @ vectors[:-1].T
    off_diagonal = cosines[~np.eye(len(VOCABULARY), dtype=bool)]
    assert off_diagonal.max() < 0.99  # "left" and "right" are close (0.96) but not the same
    # a paraphrase is nearer its instruction than any other instruction
    paraphrase = encoder.encode(["shift slightly to the left"])[0]
    assert VOCABULARY[int(np.argmax(vectors[:-1] @ paraphrase))] == "move a bit to the left"


def test_the_table_encodes_each_string_once_and_reloads_without_the_encoder(tmp_path, encoder):
    calls = []

    class Counting:
        def encode(self, texts):
            calls.append(list(texts))
            return encoder.encode(texts)

    path = tmp_path / "instructions.npz"
    table = EmbeddingTable.open(path, encoder=Counting())
    first = table.embed_all([TASK, "go lower", TASK])
    table.embed("go lower")
    assert calls == [[TASK, "go lower"]] and path.exists()

    class Refusing:
        def encode(self, texts):
            raise AssertionError(f"encoded {texts} again")

    reloaded = EmbeddingTable.open(path, encoder=Refusing())
    np.testing.assert_array_equal(reloaded.embed_all([TASK, "go lower"]), first[:2])
    assert reloaded.nearest(first[1]) == ("go lower", pytest.approx(1.0, abs=1e-5))


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"text": "x" * 201}, "at most 200 characters"),
        ({"text": "   "}, "must not be empty"),
        ({"text": "go\x00left"}, "control characters"),
        ({"text": 7}, "must be text"),
        ({"embedding": b"\0" * 10}, "384 float32"),
        ({"embedding": np.full(EMBEDDING_DIM, np.nan, "<f4").tobytes()}, "finite"),
        ({"embedding": np.full(EMBEDDING_DIM, 1.0, "<f4").tobytes()}, "unit norm"),
        ({"steps": 0}, "steps"),
        ({"steps": True}, "steps"),
        ({"actor": -2}, "actor"),
    ],
)
def test_a_malformed_correction_names_what_is_wrong(unit, change, reason):
    message = {**say_message("go lower", unit), **change}
    with pytest.raises(wire.MessageError, match=reason):
        read_correction(message, 0)
    assert check_text("  go   lower ") == "go lower"


def instructed_pick_cube(table: EmbeddingTable) -> Instructed:
    return Instructed(make("PickCube-v0", max_episode_steps=1000), table, TASK, known=VOCABULARY)


def test_a_correction_replaces_the_instruction_for_its_steps_then_the_instructor_resumes(tmp_path, encoder):
    table = EmbeddingTable(encoder=encoder)
    env = instructed_pick_cube(table)
    assert env.observation_space["instruction"].shape == (EMBEDDING_DIM,)
    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(obs["instruction"], table.embed(TASK))
    said = encoder.encode(["shift slightly to the left"])[0]
    obs, nearest, cosine = env.correct(obs, "shift slightly to the left", said, steps=3)
    assert nearest == "move a bit to the left" and 0.5 < cosine < 1.0
    np.testing.assert_array_equal(obs["instruction"], said)
    seen = []
    for _ in range(4):
        obs, _, _, _, info = env.step(env.action_space.sample())
        seen.append((info["instruction"], bool(np.allclose(obs["instruction"], said))))
    assert seen == [("shift slightly to the left", True)] * 2 + [(TASK, False)] * 2
    env.close()


def test_an_actors_corrected_episodes_are_kept_as_minari_datasets_and_read_by_finetuning(tmp_path, encoder):
    """CorrectionsLog (what build_actor wraps an instructed env in): only an episode with an
    operator's correction is written, whole, when it ends; a restarted actor adds to the folder."""
    from robokit.data.datasets import datasets_under, read_episodes
    from robokit.language.recorded import CorrectionsLog
    from robokit.loop.build import ActorOptions, corrections_logged

    table = EmbeddingTable(encoder=encoder)
    folder = tmp_path / "run" / "corrections" / "actor_0"

    def episode(env, said=None, practice=False, seed=0):
        obs, _ = env.reset(seed=seed)
        for step in range(12):
            if said is not None and step == 3:
                obs, _, _ = env.correct(obs, said, table.embed(said), 4, practice)
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                return

    make_env = lambda: Instructed(  # noqa: E731
        make("PickCube-v0", max_episode_steps=12), table, TASK, known=VOCABULARY
    )
    env = corrections_logged(make_env(), ActorOptions(learner="127.0.0.1:1", corrections_dir=folder))
    assert isinstance(env, CorrectionsLog)
    episode(env)  # nobody said anything: nothing kept
    episode(env, "go lower", practice=True)  # a drill, not an operator: nothing kept
    assert list(folder.iterdir()) == []
    episode(env, "move a bit to the left", seed=1)
    env.close()
    again = CorrectionsLog(make_env(), folder)  # the actor restarted
    episode(again, "open the gripper", seed=2)
    again.close()
    found = datasets_under(tmp_path / "run" / "corrections")
    assert [p.name for p in found] == ["episode_00000", "episode_00001"]
    kept = [read_episodes(p)[0] for p in found]
    for ep, said in zip(kept, ["move a bit to the left", "open the gripper"], strict=True):
        corrected = ep.infos["corrected"].astype(bool)
        assert len(ep) == 12 and corrected.sum() == 4 and np.flatnonzero(corrected)[0] == 3
        assert set(ep.infos["instruction_id"][corrected]) == {VOCABULARY.index(said)}
    assert (
        corrections_logged(make("PickCube-v0"), ActorOptions(learner="127.0.0.1:1")).__class__
        is not CorrectionsLog
    )


def test_a_shorter_correction_interrupts_a_longer_one_which_then_resumes(unit, encoder):
    table = EmbeddingTable(encoder=encoder)
    env = instructed_pick_cube(table)
    obs, _ = env.reset(seed=0)
    obs, _, _ = env.correct(obs, "move a bit to the right", table.embed("move a bit to the right"), 6)
    said = []
    for step in range(9):
        if step == 2:  # the first has 4 steps left: a shorter one on the way
            obs, _, _ = env.correct(obs, "go lower", table.embed("go lower"), 2)
        if step == 6:  # the resumed one has 2 steps left; a longer correction replaces it outright
            obs, _, _ = env.correct(obs, "open the gripper", table.embed("open the gripper"), 3)
        obs, _, _, _, info = env.step(env.action_space.sample())
        said.append(info["instruction"])
    right, lower, gripper = "move a bit to the right", "go lower", "open the gripper"
    assert said == [right, right, lower, right, right, right, gripper, gripper, TASK]
    env.close()


def robokit_say(text: str, port: int, *extra: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "robokit.cli.main",
        "say",
        text,
        "--learner",
        f"127.0.0.1:{port}",
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_robokit_say_reaches_a_real_actor_over_the_link_which_acts_on_it_at_its_next_steps(tmp_path, encoder):
    table = EmbeddingTable(encoder=encoder)
    env = instructed_pick_cube(table)
    spec = EnvSpec.from_spaces(env.observation_space, env.action_space)
    learner = ZmqLearnerLink("127.0.0.1:0", spec, "language-test", tmp_path / "link_log")
    link = ZmqActorLink(f"127.0.0.1:{learner.port}", 3, spec, "language-test", tmp_path / "spool")
    try:
        actor = Actor(env, agent=None, link=link, seed=0, actor_id=3)  # no params: random actions
        assert link.wait_connected(10.0)
        done = robokit_say("move a bit to the left", learner.port, "--steps", "5")
        assert done.returncode == 0, done.stderr
        assert "correction 0 for every actor (5 steps): 'move a bit to the left'; 1 connected" in done.stdout
        said = table.embed("move a bit to the left")
        for step in range(200):  # noqa: B007 (used after) the actor acts on it within its next steps
            actor.collect(1)
            if actor.correction_id == 0:
                break
            time.sleep(0.01)
        assert actor.correction_id == 0, "the correction never reached the actor"
        for _ in range(8):
            actor.collect(1)
        assert link.flush(timeout_s=5.0)
        time.sleep(0.2)
        drained = learner.drain()
        acted_on = np.concatenate([b.frames["instruction"][b.obs_index] for b in drained["transitions"]])
        corrected = np.flatnonzero(np.all(np.isclose(acted_on, said, atol=1e-6), axis=1))
        assert len(corrected) == 5 and np.all(np.diff(corrected) == 1)  # 5 steps in a row, then lapsed
        row = drained["corrections"][0]
        assert (
            row["id"] == 0
            and row["acted"]
            and row["nearest"] == "move a bit to the left"
            and row["actor"] == 3
        )
        assert row["env_step"] == step  # it acted at the first step after the instruction arrived
        assert [r["text"] for r in learner.corrections()] == ["move a bit to the left"]
    finally:
        link.close()
        learner.close()
        env.close()


def test_malformed_oversized_non_utf8_and_too_fast_corrections_are_refused_and_change_nothing(tmp_path, unit):
    spec = EnvSpec(observations=(("state", (3,), "float32"),), action_dim=2)
    learner = ZmqLearnerLink("127.0.0.1:0", spec, "language-test", tmp_path / "link_log")
    operator = RawActor(learner.port)
    try:
        good = say_message("go lower", unit)
        bad = [
            ({**good, "text": "x" * 500}, "at most 200 characters"),
            ({**good, "embedding": b"\1" * 7}, "384 float32"),
            ({**good, "steps": -1}, "steps"),
        ]
        for message, reason in bad:
            operator.send(message)
            assert reason in operator.reply("error")["reason"]
        # a text that is not UTF-8 (a raw msgpack str of invalid bytes) is undecodable
        frame = wire.pack({**good, "text": "XXXX"}).replace(b"XXXX", b"\xff\xfe\xfd\xfc")
        operator.send_frame(frame)
        assert "undecodable" in operator.reply("error")["reason"]
        assert learner.corrections() == []
        time.sleep(2.0)  # the refusals used 3 of the rate limit's burst: it fills again
        replies = []
        for _ in range(15):  # faster than a person: the rate limit (burst of 10, 5 a second) refuses
            operator.send(good)
            message = wire.unpack(operator.reply_frame())
            replies.append(message["t"])
        assert replies.count("said") in range(10, 13) and "error" in replies
        assert len(SaidLog.read(tmp_path / "link_log" / "said.jsonl")) == replies.count("said")
    finally:
        operator.close()
        learner.close()


LEARNER = """
import sys, time
from pathlib import Path
from robokit.link.zmq_learner import ZmqLearnerLink
from robokit.types import EnvSpec
spec = EnvSpec(observations=(("state", (3,), "float32"),), action_dim=2)
link = ZmqLearnerLink("127.0.0.1:0", spec, "language-test", Path(sys.argv[1]))
print(link.port, flush=True)
time.sleep(600)
"""


def test_a_correction_the_learner_answered_survives_its_sigkill_and_ids_go_on(tmp_path):
    log_dir = tmp_path / "link_log"
    learner = subprocess.Popen(
        [sys.executable, "-c", LEARNER, str(log_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(learner.stdout.readline())
        done = robokit_say("open the gripper", port)
        assert done.returncode == 0, done.stderr
        os.kill(learner.pid, signal.SIGKILL)  # right after its answer: the record is on disk
        learner.wait(10)
    finally:
        learner.kill()
    records = SaidLog.read(log_dir / "said.jsonl")
    assert [(r["id"], r["text"]) for r in records] == [(0, "open the gripper")]
    assert len(records[0]["embedding"]) == EMBEDDING_DIM
    assert SaidLog(log_dir / "said.jsonl").next_id == 1  # a resumed learner goes on from it


def test_say_without_a_learner_or_with_bad_text_is_one_sentence(tmp_path):
    done = robokit_say("go lower", 9, "--keys", str(tmp_path / "nothing"))
    assert done.returncode == 2 and "robokit say:" in done.stderr and "Traceback" not in done.stderr
    free = Path(__file__)  # any port nobody listens on: 1 is reserved
    done = robokit_say("go lower", 1)
    assert done.returncode == 2 and "did not answer within" in done.stderr, done.stderr
    done = robokit_say("x" * 300, 1)
    assert done.returncode == 2 and "at most 200 characters" in done.stderr
    assert free.exists()


@pytest.mark.parametrize("algo", ["sac", "ogpo"])
def test_an_agent_acts_on_the_instruction_entry_of_its_observation(algo, unit):
    import gymnasium as gym
    import jax

    from robokit.agents.base import agent_kind

    spaces = {
        "state": gym.spaces.Box(-1, 1, (5,), np.float32),
        "instruction": gym.spaces.Box(-1, 1, (EMBEDDING_DIM,), np.float32),
    }
    spec = EnvSpec.from_spaces(gym.spaces.Dict(spaces), gym.spaces.Box(-1, 1, (4,), np.float32))
    kind = agent_kind(algo)
    agent = kind.build(kind.presets[next(iter(kind.presets))], spec)
    params = agent.policy_params(agent.init(jax.random.PRNGKey(0)))
    state = np.zeros((1, 5), np.float32)
    actions = [
        np.asarray(
            agent.act(params, {"state": state, "instruction": v[None]}, jax.random.PRNGKey(1), explore=False)
        )
        for v in (unit, -unit)
    ]
    assert not np.allclose(actions[0], actions[1])  # the instruction reaches the policy


def test_bench_language_reports_the_say_to_action_latency_and_the_encoders_cost():
    from robokit.bench.language import bench_language

    rows = {(r["case"], r["metric"]): r["value"] for r in bench_language(repeats=1, says=5)}
    # sanity bounds, not speed targets (the figures are in the README, measured side by side)
    assert 0 < rows["say_to_actor", "p50"] <= rows["say_to_action_10hz", "p50"] + 1 < 2000
    assert rows["encoder", "known_phrase_p50"] < rows["encoder", "new_phrase_p50"]


def test_an_in_process_link_carries_a_correction_to_its_actor_which_reports_acting_on_it(encoder):
    from robokit.link.inprocess import InProcessLink

    table = EmbeddingTable(encoder=encoder)
    env = instructed_pick_cube(table)
    link = InProcessLink()
    actor = Actor(env, agent=None, link=link, seed=0, actor_id=1)
    actor.collect(2)
    correction = link.say("go lower", table.embed("go lower"), steps=2)
    with pytest.raises(wire.MessageError, match="at most 200 characters"):
        link.say("x" * 300, table.embed("go lower"))
    actor.collect(3)
    drained = link.drain()
    acted_on = np.concatenate([b.frames["instruction"][b.obs_index] for b in drained["transitions"]])
    corrected = np.all(np.isclose(acted_on, table.embed("go lower")), axis=1)
    assert corrected.tolist() == [False, False, True, True, False]
    assert drained["corrections"] == [
        {**drained["corrections"][0], "id": correction.id, "text": "go lower", "acted": True, "env_step": 2}
    ]
    env.close()


def test_without_the_language_extra_the_commands_name_what_to_install(monkeypatch):
    import importlib.util

    from robokit.language.encoder import LanguageMissing, require_language

    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else found(name, *a)
    )
    with pytest.raises(
        LanguageMissing, match=r"^the sentence encoder is not installed \(torch missing\): pip install"
    ):
        require_language()


def test_the_instruction_entry_is_standardised_like_the_state_and_restores_into_a_template():
    """Embeddings of different instructions differ by ~0.02 a dimension: without standardisation a
    policy barely tells "left" from "right". The demos' statistics standardise the entry; a template
    made without statistics has the same structure, so checkpoints restore into it."""
    import gymnasium as gym
    import jax
    import jax.numpy as jnp

    from robokit.agents.preprocessing import initial_obs_norm, normalize, obs_statistics

    spaces = {
        "state": gym.spaces.Box(-1, 1, (3,), np.float32),
        "instruction": gym.spaces.Box(-1, 1, (EMBEDDING_DIM,), np.float32),
    }
    spec = EnvSpec.from_spaces(gym.spaces.Dict(spaces), gym.spaces.Box(-1, 1, (4,), np.float32))
    rng = np.random.default_rng(0)
    shared = rng.normal(size=EMBEDDING_DIM)
    recorded = {
        "state": rng.normal(size=(500, 3)).astype(np.float32),
        "instruction": (shared + 0.02 * rng.normal(size=(500, EMBEDDING_DIM))).astype(np.float32),
    }
    norm = initial_obs_norm(spec, **obs_statistics(recorded, spec, 500))
    seen = normalize({k: jnp.asarray(v) for k, v in recorded.items()}, norm)
    assert np.allclose(np.asarray(seen["instruction"]).std(axis=0), 1.0, atol=0.01)
    assert np.abs(np.asarray(seen["instruction"]).mean(axis=0)).max() < 0.01
    template = initial_obs_norm(spec)
    assert jax.tree.structure(template) == jax.tree.structure(norm)
