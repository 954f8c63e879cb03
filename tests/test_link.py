"""The zmq link's parts: wire format and its checks, durable log, spool, dedup, params, pacing."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from link_peers import SPEC, RawActor, transitions

from robokit.link import wire
from robokit.link.durable_log import DurableLog
from robokit.link.spool import Spool, SpoolFull
from robokit.link.zmq_actor import ZmqActorLink
from robokit.link.zmq_learner import ZmqLearnerLink
from robokit.types import EnvSpec, Transition, TransitionBatch

IMAGE_SPEC = EnvSpec(observations=(("front", (8, 8, 3), "uint8"), ("state", (3,), "float32")), action_dim=2)


def roundtrip(items, spec=SPEC):
    frame = wire.pack({"t": "x", "d": wire.encode_transitions(items, spec)})
    return wire.decode_transitions(wire.unpack(frame)["d"], spec)


def test_transitions_survive_the_wire_and_shared_frames_are_sent_once():
    frames = [
        {"front": np.full((8, 8, 3), i, np.uint8), "state": np.array([i, 0, 0], np.float32)} for i in range(6)
    ]
    rows = [
        Transition(frames[i], np.full(2, i / 10, np.float32), float(i), i == 4, False, frames[i + 1])
        for i in range(5)
    ]
    batch = roundtrip(TransitionBatch.from_rows(rows, IMAGE_SPEC.observation_keys), IMAGE_SPEC)
    assert len(batch.frames["front"]) == 6  # 5 transitions, 6 distinct observations
    for i, (obs, action, reward, terminated, _, next_obs, _) in enumerate(batch.rows()):
        assert obs["front"][0, 0, 0] == i and next_obs["front"][0, 0, 0] == i + 1
        np.testing.assert_allclose(action, i / 10)
        assert reward == i and terminated == (i == 4)


def test_an_action_chunks_env_steps_cross_the_wire_and_plain_steps_count_one():
    chunked = dataclasses.replace(transitions(0, 0, 3), env_steps=np.array([4, 3, 2], np.int32))
    assert roundtrip(chunked).env_steps.tolist() == [4, 3, 2]
    plain = wire.encode_transitions(transitions(0, 0, 3), SPEC)
    assert "steps" not in plain  # nothing extra sent without chunks
    assert roundtrip(transitions(0, 0, 3)).env_steps.tolist() == [1, 1, 1]
    for bad in (0, wire.MAX_CHUNK_STEPS + 1):
        columns = wire.encode_transitions(transitions(0, 0, 3, steps=bad), SPEC)
        with pytest.raises(wire.MessageError, match="steps per transition"):
            wire.decode_transitions(msgpack.unpackb(msgpack.packb(columns), raw=False), SPEC)


@pytest.mark.parametrize(
    "corrupt, words",
    [
        (lambda c: c["frames"]["state"].__setitem__(0, "<f8"), "dtype"),
        (lambda c: c["actions"].__setitem__(1, [3, 5]), "shape"),
        (lambda c: c["rewards"].__setitem__(2, b"\0" * 3), "bytes"),
        (lambda c: c["obs_index"].__setitem__(2, np.array([0, 0, 99], np.int32).tobytes()), "outside"),
        (lambda c: c["rewards"].__setitem__(2, np.array([0, np.nan, 0], np.float32).tobytes()), "NaN"),
        (lambda c: c.pop("actions"), "actions"),
        (lambda c: c["frames"].update(extra=c["frames"]["state"]), "keys"),
    ],
)
def test_a_malformed_transition_batch_is_one_clear_error(corrupt, words):
    columns = wire.encode_transitions(transitions(0, 0, 3), SPEC)
    columns = msgpack.unpackb(msgpack.packb(columns), raw=False)  # plain, mutable lists
    corrupt(columns)
    with pytest.raises(wire.MessageError, match=words):
        wire.decode_transitions(columns, SPEC)


def test_oversized_and_undecodable_frames_are_refused_before_decoding():
    with pytest.raises(wire.MessageError, match="exceeds"):
        wire.unpack(b"\x00" * 101, max_bytes=100)
    for frame in (b"\xc1", b"\x92\x01", msgpack.packb([1, 2]), msgpack.packb({"t": 5})):
        with pytest.raises(wire.MessageError):
            wire.unpack(frame)


def test_the_durable_log_replays_intact_records_and_cuts_a_torn_tail(tmp_path):
    log = DurableLog(tmp_path)
    for seq in range(5):
        log.append(7, seq, f"record {seq}".encode())
    log.close()
    segment = log.segments()[0]
    intact = segment.stat().st_size
    with open(segment, "ab") as f:
        f.write(b"\x10\x00\x00\x00garbage")  # a record cut short by a crash
    replayed = [(a, s, p) for a, s, p in DurableLog(tmp_path).replay()]
    assert replayed == [(7, s, f"record {s}".encode()) for s in range(5)]
    assert segment.stat().st_size == intact  # the torn tail was cut off
    assert list(DurableLog(tmp_path).replay()) == replayed
    again = DurableLog(tmp_path)
    list(again.replay())
    assert again.drop_covered({7: 3}) == 0 and again.drop_covered({7: 4}) == 1


def test_the_spool_keeps_unacknowledged_batches_across_a_restart(tmp_path):
    spool = Spool(tmp_path, max_bytes=1000, memory_bytes=20)
    for seq in range(4):
        spool.add(seq, bytes([seq]) * 10)
    assert spool.acknowledge(1) == 2
    reopened = Spool(tmp_path, max_bytes=1000)
    assert [(s, f) for s, f in reopened.pending()] == [(2, b"\x02" * 10), (3, b"\x03" * 10)]
    with pytest.raises(SpoolFull, match="raise the spool limit"):
        reopened.add(4, b"x" * 990)


def test_duplicates_are_acknowledged_but_inserted_once_and_gaps_wait_for_a_resend(tmp_path):
    learner = ZmqLearnerLink("127.0.0.1:0", SPEC, "h", tmp_path / "log")
    raw = RawActor(learner.port)
    try:
        raw.send({"t": "hello", "protocol": wire.PROTOCOL, "actor": 0, "source": 5, "config_hash": "h",
                  "spec": wire.spec_to_wire(SPEC)})  # fmt: skip
        assert raw.reply("welcome")["acked"] == -1

        def batch(seq):
            data = wire.encode_transitions(transitions(0, seq * 10, 10), SPEC)
            raw.send({"t": "batch", "seq": seq, "stream": "transitions", "data": data})
            return raw.reply("ack")["acked"]

        assert [batch(0), batch(0), batch(2), batch(1), batch(2)] == [0, 0, 0, 1, 2]
        firsts = [int(b.frames["state"][0, 1]) for b in learner.drain()["transitions"]]
        assert firsts == [0, 10, 20]
        assert learner.applied_in_buffers == {5: 2}
    finally:
        raw.close()
        learner.close()


def test_params_reach_an_actor_fast_and_only_move_forward(tmp_path):
    learner = ZmqLearnerLink("127.0.0.1:0", SPEC, "h", tmp_path / "log")
    actor = ZmqActorLink(f"127.0.0.1:{learner.port}", 0, SPEC, "h", tmp_path / "spool")
    try:
        assert actor.wait_connected(10) and actor.latest_params() is None
        for version in (1, 2, 3):
            learner.publish({"w": np.full((4, 4), version, np.float32)}, version)
            deadline = time.monotonic() + 5
            while (actor.latest_params() or (0,))[0] < version:
                assert time.monotonic() < deadline
                time.sleep(0.001)
            got_version, params = actor.latest_params()
            assert got_version == version and params["w"][0, 0] == version
    finally:
        actor.close()
        learner.close()


def test_a_paced_actor_waits_while_the_learner_asks_and_an_unpaced_one_never(tmp_path):
    learner = ZmqLearnerLink("127.0.0.1:0", SPEC, "h", tmp_path / "log")
    paced = ZmqActorLink(f"127.0.0.1:{learner.port}", 0, SPEC, "h", tmp_path / "a", paced=True)
    free = ZmqActorLink(f"127.0.0.1:{learner.port}", 1, SPEC, "h", tmp_path / "b", paced=False)
    try:
        assert paced.wait_connected(10) and free.wait_connected(10)
        learner.allow(0)
        free.send("transitions", transitions(1, 0, 5))
        assert free.flush(5)
        time.sleep(0.6)  # a heartbeat carries the hold
        start = time.monotonic()
        free.send("transitions", transitions(1, 5, 5))
        assert time.monotonic() - start < 0.1
        threading_result = {}

        def send_paced():
            paced.send("transitions", transitions(0, 0, 5))
            threading_result["done"] = time.monotonic()

        import threading

        thread = threading.Thread(target=send_paced)
        thread.start()
        time.sleep(0.5)
        assert "done" not in threading_result  # held
        learner.allow(None)
        thread.join(5)
        assert "done" in threading_result
    finally:
        paced.close()
        free.close()
        learner.close()


def test_an_actor_spool_from_an_earlier_run_goes_on_with_a_new_learner(tmp_path):
    first = ZmqLearnerLink("127.0.0.1:0", SPEC, "h", tmp_path / "log1")
    actor = ZmqActorLink(f"127.0.0.1:{first.port}", 0, SPEC, "h", tmp_path / "spool")
    assert actor.wait_connected(10)
    actor.send("transitions", transitions(0, 0, 5))
    assert actor.flush(5)
    actor.close()
    first.close()
    second = ZmqLearnerLink("127.0.0.1:0", SPEC, "h", tmp_path / "log2")  # a new run, the same spool
    actor = ZmqActorLink(f"127.0.0.1:{second.port}", 0, SPEC, "h", tmp_path / "spool")
    try:
        assert actor.wait_connected(10)
        actor.send("transitions", transitions(0, 5, 5))
        assert actor.flush(5)
        assert [int(b.frames["state"][0, 1]) for b in second.drain()["transitions"]] == [5]
    finally:
        actor.close()
        second.close()


def test_each_side_notices_the_other_going_silent(tmp_path):
    learner = ZmqLearnerLink("127.0.0.1:0", SPEC, "h", tmp_path / "log", silent_after_s=1.0)
    actor = ZmqActorLink(f"127.0.0.1:{learner.port}", 3, SPEC, "h", tmp_path / "spool")
    assert actor.wait_connected(10)
    actor.close()  # the actor goes quiet
    deadline = time.monotonic() + 5
    while not any("actor 3 silent" in line for line in learner.events()):
        assert time.monotonic() < deadline, "the learner did not report the silent actor"
        time.sleep(0.05)
    actor = ZmqActorLink(f"127.0.0.1:{learner.port}", 3, SPEC, "h", tmp_path / "spool2")
    assert actor.wait_connected(10)
    learner.close()  # the learner goes away
    began = time.monotonic()
    while actor.connected:
        assert time.monotonic() - began < 2.5, "the actor did not notice the learner was gone"
        time.sleep(0.01)
    actor.close()
