"""The control channel (robokit.link.control): an operator's pause / resume / stop / label for one
actor, over the real zmq link and in one process, and what an actor does with each: the Actor loop,
its status on the learner's side, and the labelled frames it keeps."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from link_peers import SPEC, RawActor
from tiny_task import PointGoal

from robokit.data.datasets import read_episodes
from robokit.link import InProcessLink, wire
from robokit.link.control import COMMANDS, Controls, read_control, read_status
from robokit.link.zmq_actor import ZmqActorLink
from robokit.link.zmq_learner import ZmqLearnerLink
from robokit.loop.actor import Actor, run_actor
from robokit.rewards.labels_log import LabelsLog
from robokit.types import EnvSpec

pytestmark = pytest.mark.timeout(120)

POINT = EnvSpec(observations=(("state", (2,), "float32"),), action_dim=2)
HELLO = {"t": "hello", "protocol": wire.PROTOCOL, "actor": 4, "source": 9, "config_hash": "h",
         "spec": wire.spec_to_wire(SPEC)}  # fmt: skip


def test_controls_are_resent_in_order_until_acknowledged_and_dropped_when_late(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    controls = Controls()
    first, second = controls.add(4, "pause"), controls.add(4, "success")
    assert second > first > 1_600_000_000_000  # ids grow with the clock: a restarted learner's too
    assert [m["command"] for m in controls.due(4, clock[0])] == ["pause", "success"]
    assert controls.due(4, clock[0] + 0.1) == []  # resent only every 0.5 s
    controls.acknowledged(4, first)
    assert [m["id"] for m in controls.due(4, clock[0] + 0.6)] == [second]
    assert controls.due(5, clock[0]) == []  # another actor has none
    clock[0] += 6.0  # not acknowledged within 5 s: dropped
    assert controls.due(4, clock[0]) == [] and controls.pending[4] == []
    with pytest.raises(wire.MessageError, match="unknown control"):
        controls.add(4, "explode")


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"id": 1, "command": "reboot"}, "unknown control"),
        ({"id": -1, "command": "pause"}, "id must be"),
        ({"id": True, "command": "pause"}, "id must be"),
        ({"id": 2**62, "command": "stop"}, "id must be"),
    ],
)
def test_a_malformed_control_is_refused_by_name(message, reason):
    with pytest.raises(wire.MessageError, match=reason):
        read_control({"t": "control", **message})


def test_an_actor_status_is_checked_field_by_field():
    status = {"paused": True, "episode": 3, "instruction": "go lower", "label": None, "extra": 5}
    assert read_status(status) == {"paused": True, "episode": 3, "instruction": "go lower"}
    for bad in [
        [],
        {"paused": 1},
        {"episode": -1},
        {"instruction": "x" * 201},
        {f"field_{i}": 1 for i in range(40)},
    ]:
        with pytest.raises(wire.MessageError):
            read_status(bad)


def test_a_control_reaches_a_real_actor_over_zmq_which_acknowledges_it_and_reports_its_status(tmp_path):
    learner = ZmqLearnerLink("127.0.0.1:0", SPEC, "h", tmp_path / "log")
    link = ZmqActorLink(f"127.0.0.1:{learner.port}", 2, SPEC, "h", tmp_path / "spool")
    try:
        assert link.wait_connected(10)
        with pytest.raises(wire.MessageError, match="actor 7 is not connected"):
            learner.control(7, "pause", who="test")
        reply = learner.control(2, "pause", who="test")
        deadline = time.monotonic() + 5
        while not (taken := link.take_controls()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert taken == ["pause"]
        link.report({"paused": True, "episode": 1, "step": 7, "instruction": "go lower"}, urgent=True)
        deadline = time.monotonic() + 5
        while learner.actor_statuses().get(2, {}).get("paused") is not True and time.monotonic() < deadline:
            time.sleep(0.01)
        status = learner.actor_statuses()[2]
        assert status["paused"] and status["step"] == 7 and status["control"] == reply["id"]
        time.sleep(1.2)  # acknowledged: never resent, so never taken twice
        assert link.take_controls() == [] and learner.controls.pending[2] == []
    finally:
        link.close()
        learner.close()


def test_a_bad_status_is_refused_and_the_heartbeat_still_counts(tmp_path):
    learner = ZmqLearnerLink("127.0.0.1:0", SPEC, "h", tmp_path / "log")
    peer = RawActor(learner.port)
    try:
        peer.send(HELLO)
        peer.reply("welcome")
        peer.send({"t": "ping", "version": -1, "status": {"instruction": b"\x00" * 9}})
        assert peer.reply("pong")["acked"] == -1
        assert "status field 'instruction'" in peer.reply("error")["reason"]
        assert learner.actor_statuses()[4]["seen_s_ago"] < 2 and learner._thread.is_alive()
        peer.send({"t": "ping", "version": -1, "status": {"paused": False, "episode": 2}})
        peer.reply("pong")
        time.sleep(0.1)
        assert learner.actor_statuses()[4]["episode"] == 2
    finally:
        peer.close()
        learner.close()


def test_the_actor_pauses_within_one_step_resumes_labels_and_stops(tmp_path):
    """In one process: a paused actor takes no step until resumed; a success label holds from the
    step it was taken on and the labelled episode is written; stop ends run_actor."""
    link = InProcessLink()
    env = LabelsLog(PointGoal(max_steps=10), tmp_path / "labels")
    actor = Actor(env, agent=None, link=link, seed=0)
    assert actor.collect(3) == 3
    link.control(0, "pause")
    assert actor.collect(5) == 0 and actor.env_steps == 3 and link.status["paused"]
    link.control(0, "resume")
    link.control(0, "success")
    assert actor.collect(2) == 2 and link.status["label"] == "success" and not link.status["paused"]
    labelled_at = actor.episode_length - 2  # taken before those 2 steps: on the frame after step 3
    while actor.episodes == 0:
        actor.collect(1)
    (episode,) = read_episodes(tmp_path / "labels" / "episode_00000")
    labels = episode.infos["success"]
    assert not labels[:labelled_at].any() and labels[labelled_at:].all(), (labelled_at, labels)
    rows = link.drain()
    assert [r["control"] for r in rows["interventions"]] == ["pause", "resume", "success"]
    assert rows["metrics"][0]["label"] == "success"
    with pytest.raises(wire.MessageError, match="unknown control"):
        link.control(0, "jump")
    stopper = threading.Timer(0.2, lambda: link.control(0, "stop"))
    stopper.start()
    steps = run_actor(actor, link, should_stop=lambda: False)
    assert actor.stop_requested and steps > 0
    assert set(COMMANDS) == {"pause", "resume", "stop", "success", "failure"}


def test_an_episode_nobody_labelled_is_not_kept(tmp_path):
    env = LabelsLog(PointGoal(max_steps=5), tmp_path / "labels")
    actor = Actor(env, agent=None, link=InProcessLink(), seed=1)
    while actor.episodes < 3:
        actor.collect(1)
    assert not (tmp_path / "labels").exists()
    np.testing.assert_equal(actor.label, None)
