"""The link against single bad messages and faults, finding by finding: each test sends what once
stopped or fooled a learner, then checks that a real actor is still served and nothing was lost."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import zmq
from link_peers import SPEC, RawActor, transitions

from robokit.data.replay import ReplayBuffer
from robokit.link import InProcessLink, wire
from robokit.link.base import LinkFailed
from robokit.link.durable_log import DurableLog, LogBroken
from robokit.link.keys import add_actor, create_keys
from robokit.link.zmq_actor import ZmqActorLink
from robokit.link.zmq_learner import MAX_SESSIONS, ZmqLearnerLink
from robokit.loop.learner import Learner, LearnerConfig
from robokit.runs.audit import audit
from robokit.types import EnvSpec, Transition, TransitionBatch

pytestmark = pytest.mark.timeout(120)

HELLO = {"t": "hello", "protocol": wire.PROTOCOL, "actor": 0, "source": 5, "config_hash": "h",
         "spec": wire.spec_to_wire(SPEC)}  # fmt: skip


@pytest.fixture
def learner(tmp_path):
    link = ZmqLearnerLink("127.0.0.1:0", SPEC, "h", tmp_path / "log")
    yield link
    link.close()


def batch(seq: int, first: int = 0, n: int = 5, actor: int = 0) -> dict:
    data = wire.encode_transitions(transitions(actor, first, n), SPEC)
    return {"t": "batch", "seq": seq, "stream": "transitions", "data": data}


def still_serves(learner: ZmqLearnerLink, tmp_path, name: str = "real", actor_id: int = 1) -> None:
    """A real actor connects, is acknowledged, and the learner drains exactly its rows."""
    learner.drain()
    actor = ZmqActorLink(f"127.0.0.1:{learner.port}", actor_id, SPEC, "h", tmp_path / name)
    try:
        assert actor.wait_connected(10), "the learner no longer answers a hello"
        actor.send("transitions", transitions(actor_id, 0, 7))
        assert actor.flush(10), "the learner no longer acknowledges"
        got = learner.drain()["transitions"]
        assert [b.frames["state"][: len(b), 1].tolist() for b in got] == [list(range(7))]
    finally:
        actor.close()
    assert learner._thread.is_alive()


def mixed_key_frames():
    message = batch(0)
    message["data"]["frames"][b"state"] = message["data"]["frames"]["state"]
    return message


def overflowing_shape():
    message = batch(0)
    message["data"]["actions"] = ["<f4", [2**62, 4], b""]
    return message


def float_dims():
    message = batch(0)
    message["data"]["actions"][1] = [5, 2.0]
    return message


@pytest.mark.parametrize("poison", [mixed_key_frames, overflowing_shape, float_dims])
def test_one_malformed_batch_gets_an_error_and_the_link_goes_on(learner, tmp_path, poison):
    raw = RawActor(learner.port)
    try:
        raw.send(HELLO)
        raw.reply("welcome")
        raw.send(poison())
        reason = raw.reply("error")["reason"]
        assert reason and "could not handle" not in reason  # a check named it, not the safety net
        raw.send(batch(0))
        assert raw.reply("ack")["acked"] == 0
    finally:
        raw.close()
    still_serves(learner, tmp_path)


def test_a_shape_whose_element_count_wraps_in_64_bits_is_a_message_error():
    # 2**62 * 4 elements is 0 in int64 arithmetic: empty data once passed the size check
    with pytest.raises(wire.MessageError, match="rows"):
        wire.decode_array(["<f4", [2**62, 4], b""], "actions", "float32", (4,))
    with pytest.raises(wire.MessageError, match="wrong number of bytes"):
        wire.decode_array(["<f4", [2**17, 2**47], b""], "frames", "float32", (2**47,))


@pytest.mark.parametrize("field, value", [("source", 2**64 - 1), ("source", -1), ("actor", 2**63)])
def test_a_hello_with_an_out_of_range_id_is_refused_and_the_link_goes_on(learner, tmp_path, field, value):
    raw = RawActor(learner.port)
    try:
        raw.send({**HELLO, field: value})
        assert "2**62" in raw.reply("error")["reason"]
        raw.send(batch(0))  # no session: asked for a hello, nothing logged
        raw.reply("hello?")
    finally:
        raw.close()
    assert not learner.log.segments() or all(s.stat().st_size == 0 for s in learner.log.segments())
    still_serves(learner, tmp_path)


def test_any_exception_while_handling_one_message_is_an_error_reply(learner, tmp_path, monkeypatch):
    def broken(message, spec):
        raise ZeroDivisionError("a bug in a check")

    monkeypatch.setattr(wire, "decode_batch", broken)
    raw = RawActor(learner.port)
    try:
        raw.send(HELLO)
        raw.reply("welcome")
        raw.send(batch(0))
        assert "ZeroDivisionError" in raw.reply("error")["reason"]
    finally:
        raw.close()
    monkeypatch.undo()
    still_serves(learner, tmp_path)
    assert any("could not handle it" in line for line in learner.events())


def test_a_link_thread_that_dies_is_loud_not_silent(learner, monkeypatch):
    def broken_sync():
        raise LogBroken("disk gone")

    monkeypatch.setattr(learner.log, "sync", broken_sync)
    raw = RawActor(learner.port)
    try:
        raw.send(HELLO)
        raw.reply("welcome")
        raw.send(batch(0))
        deadline = time.monotonic() + 5
        while learner._thread.is_alive():
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        raw.close()
    with pytest.raises(LinkFailed, match="disk gone"):
        learner.drain()


def test_an_actor_whose_link_thread_dies_says_so_at_its_next_send(learner, tmp_path, monkeypatch):
    import robokit.link.zmq_actor as zmq_actor

    def full_disk(path, data, durable=True):
        if path.name == "acked":
            raise OSError(28, "No space left on device")
        return real(path, data, durable)

    real = zmq_actor.write_durably
    monkeypatch.setattr(zmq_actor, "write_durably", full_disk)
    actor = ZmqActorLink(f"127.0.0.1:{learner.port}", 0, SPEC, "h", tmp_path / "spool")
    try:
        assert actor.wait_connected(10)
        actor.send("transitions", transitions(0, 0, 3))  # its acknowledgement cannot be written
        deadline = time.monotonic() + 5
        while actor.failure is None:
            assert time.monotonic() < deadline, "the actor's link thread did not stop"
            time.sleep(0.01)
        with pytest.raises(LinkFailed, match="restart the actor; its spool"):
            actor.send("transitions", transitions(0, 3, 3))
        assert (tmp_path / "spool" / "0.msg").exists()  # nothing it had sent is forgotten
    finally:
        actor.close()


def test_a_failed_log_write_is_undone_and_not_acknowledged(tmp_path):
    log = DurableLog(tmp_path / "log")
    log.append(1, 0, b"first")
    real_file = log._file

    class FullDisk:
        def __init__(self):
            self.writes = 0

        def write(self, data):
            self.writes += 1
            if self.writes == 2:  # the header went out, the body does not fit
                raise OSError(28, "No space left on device")
            return real_file.write(data)

        def __getattr__(self, name):
            return getattr(real_file, name)

    log._file = FullDisk()
    with pytest.raises(OSError, match="No space"):
        log.append(1, 1, b"second")
    log._file = real_file
    log.append(1, 1, b"second, resent")
    log.close()
    assert [(s, p) for _, s, p in DurableLog(tmp_path / "log").replay()] == [
        (0, b"first"),
        (1, b"second, resent"),
    ]


# -- row streams: a schema, checked before anything is acknowledged ---------------------------------
GOOD_ROW = {"actor": 0, "episode_return": 1.5, "episode_length": 20, "success": True, "time": 1.0}


@pytest.mark.parametrize(
    "row, words",
    [
        ({"actor": 0}, "lacks episode_return"),
        ({**GOOD_ROW, "episode_return": float("nan")}, "not finite"),
        ({**GOOD_ROW, "time": float("inf")}, "not finite"),
        ({**GOOD_ROW, "success": 1}, "expected bool"),
        ({**GOOD_ROW, "episode_length": -3}, "expected count"),
        ({**GOOD_ROW, "extra": float("-inf")}, "not finite"),
        ({**GOOD_ROW, "extra": [1, 2]}, "not a number"),
        ({**GOOD_ROW, 7: 1}, "field name"),
    ],
)
def test_metrics_rows_are_checked_against_their_schema(row, words):
    with pytest.raises(wire.MessageError, match=words):
        wire.check_rows([row], "metrics")
    with pytest.raises(wire.MessageError, match=words):
        InProcessLink().send("metrics", [row])  # the same check in one process
    assert wire.check_rows([GOOD_ROW, {**GOOD_ROW, "note": "ok"}], "metrics")


def test_a_metrics_row_without_success_is_refused_over_the_wire_and_never_acknowledged(learner):
    raw = RawActor(learner.port)
    try:
        raw.send(HELLO)
        raw.reply("welcome")
        raw.send({"t": "batch", "seq": 0, "stream": "metrics", "data": [{"actor": 0}]})
        assert "lacks" in raw.reply("error")["reason"]
        raw.send({"t": "batch", "seq": 0, "stream": "metrics", "data": [GOOD_ROW]})
        assert raw.reply("ack")["acked"] == 0
    finally:
        raw.close()
    assert learner.drain()["metrics"] == [GOOD_ROW]


def test_a_logged_batch_that_cannot_be_applied_is_quarantined_on_resume_not_a_crash_loop(tmp_path):
    log = DurableLog(tmp_path / "log")  # what an older learner, which checked less, acknowledged
    log.append(5, 0, wire.pack({"t": "batch", "seq": 0, "stream": "metrics", "data": [{"actor": 0}]}))
    log.append(5, 1, wire.pack(batch(1)))
    log.close()
    for attempt in range(2):  # resumed twice: neither start crashes, the poison is kept once
        link = ZmqLearnerLink("127.0.0.1:0", SPEC, "h", tmp_path / "log", applied={5: 1} if attempt else None)
        try:
            drained = link.drain()
            if attempt == 0:
                assert [len(b) for b in drained["transitions"]] == [5] and drained["metrics"] == []
                assert any("quarantined logged batch 0 of source 5" in line for line in link.events())
                assert link.applied_in_buffers == {5: 1} and link.ledger[5]["quarantined"] == 1
            raw = RawActor(link.port)
            raw.send({**HELLO, "acked": 1})
            assert raw.reply("welcome")["acked"] == 1 + attempt  # the actor goes on after the poison
            raw.send(batch(2 + attempt, first=10))
            assert raw.reply("ack")["acked"] == 2 + attempt
            raw.close()
        finally:
            link.close()
    assert [s for s, _, _ in DurableLog(tmp_path / "log").quarantined()] == [5]


def test_a_handler_that_raises_quarantines_its_items_and_the_learner_goes_on():
    link = InProcessLink()
    buffer = ReplayBuffer(SPEC, 100)
    kept = []
    learner = Learner(None, None, {"online": buffer}, {"online": 1.0}, link, LearnerConfig(),
                      quarantine=lambda stream, items, err: kept.append((stream, type(err).__name__)))  # fmt: skip  # noqa: E501
    learner.on("metrics", lambda rows: 1 / 0)
    link.send("metrics", [GOOD_ROW])
    link.send("transitions", transitions(0, 0, 4))
    learner.ingest()
    assert kept == [("metrics", "ZeroDivisionError")] and len(buffer) == 4
    assert learner.episodes == [GOOD_ROW]  # the other handlers of the stream still ran
    bare = Learner(None, None, {"online": ReplayBuffer(SPEC, 100)}, {"online": 1.0}, link, LearnerConfig())
    bare.on("metrics", lambda rows: 1 / 0)
    link.send("metrics", [GOOD_ROW])
    with pytest.raises(ZeroDivisionError):  # without a quarantine a bug surfaces at once
        bare.ingest()


# -- size, time, and what a refusal echoes -------------------------------------------------------
def test_a_huge_hello_is_not_decoded_nor_echoed_and_holds_nobody_up(learner, tmp_path):
    raw = RawActor(learner.port)
    try:
        huge = wire.pack({**HELLO, "spec": {"observations": [["x" * 100, [1], "uint8"]] * 160_000}})
        assert len(huge) > 16 * 2**20
        start = time.monotonic()
        raw.send_frame(huge)
        reply = raw.reply_frame()
        assert time.monotonic() - start < 2.0 and len(reply) < 300
        assert wire.unpack(reply)["t"] == "hello?"
        big_spec = {"observations": [["k" * 50, [1], "uint8"]] * 500, "action_dim": 2}
        raw.send({**HELLO, "spec": big_spec})  # under the handshake limit, refused without an echo
        reason = raw.reply("refused")["reason"]
        assert len(reason) < 400 and "beyond" in reason
    finally:
        raw.close()
    still_serves(learner, tmp_path)


def test_thousands_of_hellos_leave_bounded_state_and_few_lines(learner, tmp_path):
    context = zmq.Context()
    sockets = []
    try:
        for i in range(MAX_SESSIONS + 100):
            sock = context.socket(zmq.DEALER)
            sock.linger = 0
            sock.connect(f"tcp://127.0.0.1:{learner.port}")
            sock.send(wire.pack({**HELLO, "actor": i, "source": 1000 + i}))
            sockets.append(sock)
        for sock in sockets:
            assert sock.poll(5000)
            sock.recv()
    finally:
        for sock in sockets:
            sock.close()
        context.term()
    assert len(learner.sessions) <= MAX_SESSIONS
    assert learner.ledger == {} and learner.accepted == {}  # nothing kept for sources without data
    lines = learner.events()
    assert 5 <= len(lines) <= 12, lines
    # an id none of the hellos used: which of them the learner still holds depends on the order in
    # which their connections were served, and a live one's id is rightly refused to a newcomer
    still_serves(learner, tmp_path, actor_id=MAX_SESSIONS + 1000)


# -- durability ----------------------------------------------------------------------------------
def test_spool_batches_and_the_acknowledged_mark_are_fsynced_mark_first(tmp_path, monkeypatch):
    import robokit.data.durable as durable

    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(durable.os, "fsync", fsync)
    learner = ZmqLearnerLink("127.0.0.1:0", SPEC, "h", tmp_path / "log")
    actor = ZmqActorLink(f"127.0.0.1:{learner.port}", 0, SPEC, "h", tmp_path / "spool")
    try:
        assert actor.wait_connected(10)
        actor.send("transitions", transitions(0, 0, 3))
        assert actor.flush(10)
    finally:
        actor.close()
        learner.close()
    names = [os.path.basename(p) for p in synced]
    assert "0.msg.partial" in names and "acked.partial" in names and "spool" in names
    assert (tmp_path / "spool" / "acked").read_text() == "0" and not list((tmp_path / "spool").glob("*.msg"))


def test_an_actor_killed_between_its_mark_and_its_spool_never_reuses_a_sequence_number(tmp_path):
    spool = tmp_path / "spool"
    learner = ZmqLearnerLink("127.0.0.1:0", SPEC, "h", tmp_path / "log")
    try:
        actor = ZmqActorLink(f"127.0.0.1:{learner.port}", 0, SPEC, "h", spool)
        assert actor.wait_connected(10)
        actor.send("transitions", transitions(0, 0, 3))
        assert actor.flush(10)
        actor.close()
        (spool / "0.msg").write_bytes(b"left behind by a kill")  # the mark was written, the file not deleted
        again = ZmqActorLink(f"127.0.0.1:{learner.port}", 0, SPEC, "h", spool)
        assert again.next_seq == 1 and len(again.spool) == 0
        assert again.wait_connected(10)
        again.send("transitions", transitions(0, 3, 3))
        assert again.flush(10)
        again.close()
        firsts = [int(b.frames["state"][0, 1]) for b in learner.drain()["transitions"]]
        assert firsts == [0, 3]
    finally:
        learner.close()


# -- keys ----------------------------------------------------------------------------------------
def test_secret_keys_are_private_and_a_readable_one_is_refused_with_the_fix(tmp_path):
    keys = create_keys(tmp_path / "keys")
    secrets = list(keys.rglob("*.key_secret"))
    assert len(secrets) == 2 and all(oct(p.stat().st_mode & 0o777) == "0o600" for p in secrets)
    actor_secret = keys / "actors" / "actor0" / "actor.key_secret"
    actor_secret.chmod(0o644)
    with pytest.raises(PermissionError, match=f"chmod 600 {actor_secret}"):
        ZmqActorLink("127.0.0.1:1", 0, SPEC, "h", tmp_path / "spool", keys=keys / "actors" / "actor0")


def test_each_actor_machine_has_its_own_key_and_one_is_revoked_alone(tmp_path):
    keys = create_keys(tmp_path / "keys", actors=("arm1", "arm2"))
    learner = ZmqLearnerLink("127.0.0.1:0", SPEC, "h", tmp_path / "log", keys=keys)
    address = f"127.0.0.1:{learner.port}"
    links = []
    try:
        for i, name in enumerate(("arm1", "arm2")):
            links.append(ZmqActorLink(address, i, SPEC, "h", tmp_path / name, keys=keys / "actors" / name))
            assert links[-1].wait_connected(10)
        (keys / "authorized" / "arm2.key").unlink()  # arm2 was stolen
        links.pop().close()
        revoked = ZmqActorLink(address, 1, SPEC, "h", tmp_path / "arm2", keys=keys / "actors" / "arm2")
        links.append(revoked)
        assert not revoked.wait_connected(3)
        assert "does not accept this actor's key" in revoked.no_answer() and "--keys" in revoked.no_answer()
        links[0].send("transitions", transitions(0, 0, 3))
        assert links[0].flush(10)  # arm1 goes on
        keyless = ZmqActorLink(address, 2, SPEC, "h", tmp_path / "none")
        links.append(keyless)
        assert not keyless.wait_connected(3)
        assert "has none" in keyless.no_answer()
        refused = [line for line in learner.events() if line.startswith("refused a client at 127.0.0.1")]
        assert len(refused) == 1, refused  # once per address and reason, though it keeps retrying
    finally:
        for link in links:
            link.close()
        learner.close()


def test_keys_for_another_machine_are_added_to_an_existing_folder(tmp_path):
    keys = create_keys(tmp_path / "keys")
    arm = add_actor(keys, "arm7")
    assert (keys / "authorized" / "arm7.key").exists() and (arm / "learner.key").exists()
    with pytest.raises(FileExistsError, match="pick another name"):
        add_actor(keys, "arm7")
    with pytest.raises(ValueError, match="plain name"):
        add_actor(keys, "../x")


# -- image frames from several actors, a restart mid-episode, and the audit ------------------------
IMAGES = EnvSpec(observations=(("front", (4, 4, 3), "uint8"), ("state", (3,), "float32")), action_dim=2)


def frame(actor: int, episode: int, t: int) -> dict:
    return {"front": np.broadcast_to(np.array([actor, episode, t], np.uint8), (4, 4, 3)).copy(),
            "state": np.array([actor, episode, t], np.float32)}  # fmt: skip


def send_steps(link, actor: int, episode: int, steps: range, last: int) -> None:
    frames = {t: frame(actor, episode, t) for t in range(steps.start, steps.stop + 1)}
    rows = [
        Transition(frames[t], np.zeros(2, np.float32), 0.0, False, t == last, frames[t + 1]) for t in steps
    ]
    link.send("transitions", TransitionBatch.from_rows(rows, IMAGES.observation_keys, actor))


def test_image_frames_from_interleaved_actors_and_a_restart_mid_episode_pair_correctly(tmp_path):
    learner = ZmqLearnerLink("127.0.0.1:0", IMAGES, "h", tmp_path / "log")
    buffer = ReplayBuffer(IMAGES, 1000)
    address = f"127.0.0.1:{learner.port}"
    actors = {a: ZmqActorLink(address, a, IMAGES, "h", tmp_path / f"spool{a}") for a in (0, 1)}
    try:
        for start in range(0, 12, 3):  # both actors' batches arrive interleaved
            for a, link in actors.items():
                send_steps(link, a, 0, range(start, start + 3), last=20 if a == 0 else 11)
                assert link.flush(10)
                for b in learner.drain()["transitions"]:
                    buffer.insert_batch(b)
        actors[0].close()  # actor 0 restarts in the middle of its episode: a reset, a new episode
        actors[0] = ZmqActorLink(address, 0, IMAGES, "h", tmp_path / "spool0")
        send_steps(actors[0], 0, 1, range(0, 4), last=3)
        assert actors[0].flush(10)
        for b in learner.drain()["transitions"]:
            buffer.insert_batch(b)
        ledger = learner.ledger_snapshot()
    finally:
        for link in actors.values():
            link.close()
        learner.close()
    sampled = buffer.gather(np.arange(len(buffer)))
    now, following = sampled["observations"]["state"], sampled["next_observations"]["front"][:, 0, 0]
    np.testing.assert_array_equal(following, now + [0, 0, 1])  # every next frame is its own actor's
    assert len(buffer) == 12 + 12 + 4
    audits = audit({"online": buffer}, ledger, None, [tmp_path / "spool0", tmp_path / "spool1"])
    assert [(a.actor, a.in_buffer, a.missing, a.duplicates, a.mispaired, a.problems) for a in audits] == [
        (0, 16, 0, 0, 0, []), (1, 12, 0, 0, 0, [])]  # fmt: skip


def test_the_audit_finds_a_doubled_a_missing_and_a_mispaired_transition():
    buffer = ReplayBuffer(IMAGES, 100)
    frames = [frame(0, 0, t) for t in range(8)]
    rows = [
        Transition(frames[t], np.zeros(2, np.float32), 0.0, False, False, frames[t + 1]) for t in range(7)
    ]
    whole = TransitionBatch.from_rows(rows, IMAGES.observation_keys, source=3)
    buffer.insert_batch(dataclasses_replace(whole.take(np.arange(4)), source=3, first_row=0))
    buffer.insert_batch(dataclasses_replace(whole.take(np.arange(2, 4)), source=3, first_row=2))  # doubled
    buffer.insert_batch(dataclasses_replace(whole.take(np.arange(5, 7)), source=3, first_row=5))  # 4 missing
    buffer.next_slot[0] = 3  # a next frame pointing two rows ahead
    ledger = {3: {"actor": 0, "seq": 2, "batches": 3, "transitions": 7}}
    (result,) = audit({"online": buffer}, ledger, None, [])
    assert (result.duplicates, result.missing, result.mispaired) == (2, 1, 1)
    assert len(result.problems) == 3


def dataclasses_replace(batch, **changes):
    import dataclasses

    return dataclasses.replace(batch, **changes)


def view(frames: dict | None = None) -> dict:
    return wire.encode_view(frames or {"front": np.full((6, 8, 3), 7, np.uint8)})


@pytest.mark.parametrize(
    ("poison", "words"),
    [
        ({"t": "view", "frames": []}, "1 to 8 cameras"),
        ({"t": "view", "frames": {f"c{i}": view()["frames"]["front"] for i in range(9)}}, "1 to 8 cameras"),
        ({"t": "view", "frames": {"front": ["|u1", [1, 6, 8, 4], bytes(192)]}}, "shape [1, 6, 8, 4]"),
        ({"t": "view", "frames": {"front": ["<f4", [1, 6, 8, 3], bytes(576)]}}, "dtype '<f4'"),
        ({"t": "view", "frames": {"front": ["|u1", [2, 6, 8, 3], bytes(288)]}}, "not one (H, W, 3) frame"),
        ({"t": "view", "frames": {"front": ["|u1", [1, 4096, 8, 3], bytes(4096 * 24)]}}, "sides up to 2048"),
        ({"t": "view", "frames": {"front": ["|u1", [1, 6, 8, 3], bytes(10)]}}, "wrong number of bytes"),
        ({"t": "view", "frames": {"x" * 65: view()["frames"]["front"]}}, "not a short string"),
    ],
)
def test_a_malformed_camera_view_is_an_error_reply_and_shows_nothing(learner, tmp_path, poison, words):
    shown = []
    learner.view_sink = lambda actor, frames: shown.append((actor, frames))
    raw = RawActor(learner.port)
    try:
        raw.send(HELLO)
        raw.reply("welcome")
        raw.send(poison)
        assert words in raw.reply("error")["reason"]
        raw.send(view())  # the same actor's next, well-formed view is shown
        deadline = time.monotonic() + 5
        while not shown and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(shown) == 1 and shown[0][0] == 0 and shown[0][1]["front"].shape == (6, 8, 3)
        raw.send(batch(0))
        assert raw.reply("ack")["acked"] == 0  # a view is no batch: it took no sequence number
    finally:
        raw.close()
    still_serves(learner, tmp_path)


def test_an_actor_sends_camera_views_only_while_the_learner_says_a_console_watches(learner, tmp_path):
    """Views carry an encoded actor's frames to the console alone: sent when the pong says someone
    watches, never spooled, and they stop when nobody does."""
    shown, watching = [], [False]
    learner.view_sink = lambda actor, frames: shown.append((actor, frames))
    learner.views_wanted = lambda: watching[0]
    actor = ZmqActorLink(f"127.0.0.1:{learner.port}", 3, SPEC, "h", tmp_path / "spool")
    frame = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)

    def views_for(seconds: float) -> int:
        before, deadline = len(shown), time.monotonic() + seconds
        while time.monotonic() < deadline:
            learner.drain()
            actor.view({"front": frame, "wrist": frame[::-1]})
            time.sleep(0.05)
        return len(shown) - before

    try:
        assert actor.wait_connected(10)
        assert views_for(1.5) == 0 and not actor.views_wanted
        watching[0] = True
        assert views_for(2.0) > 0 and actor.views_wanted
        who, frames = shown[-1]
        assert who == 3 and set(frames) == {"front", "wrist"}
        assert np.array_equal(frames["front"], frame) and np.array_equal(frames["wrist"], frame[::-1])
        assert len(actor.spool) == 0  # never spooled
        watching[0] = False
        time.sleep(1.2)  # the next pongs say nobody watches
        assert views_for(1.5) == 0
    finally:
        actor.close()
