"""The zmq link under faults, with real processes on 127.0.0.1 (tests/link_peers.py): killed and
restarted learners and actors, a stopped learner, hostile frames. The check is always the same:
the learner's buffer ends with exactly the transitions the actors produced, each once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest

PEERS = Path(__file__).with_name("link_peers.py")
sys.path.insert(0, str(PEERS.parent))

from link_peers import SPEC, RawActor, load, transitions  # noqa: E402

from robokit.link import wire  # noqa: E402
from robokit.link.durable_log import DurableLog  # noqa: E402
from robokit.runs.audit import audit, report  # noqa: E402

pytestmark = pytest.mark.timeout(300)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Peers:
    def __init__(self, tmp_path: Path):
        self.tmp, self.port = tmp_path, free_port()
        self.run_dir = tmp_path / "learner"
        self.procs: list[subprocess.Popen] = []

    def _spawn(self, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, str(PEERS), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.tmp,
        )
        self.procs.append(proc)
        return proc

    def learner(self) -> subprocess.Popen:
        ready = self.run_dir / "ready"
        ready.unlink(missing_ok=True)
        proc = self._spawn("learner", str(self.port), str(self.run_dir))
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the learner did not start"
            time.sleep(0.05)
        return proc

    def actor(self, actor: int, total: int, batch: int = 100, interval_s: float = 0.01) -> subprocess.Popen:
        spool = self.tmp / "spools" / f"actor_{actor}"
        args = (self.port, actor, spool, total, batch, interval_s)
        return self._spawn("actor", *map(str, args))

    def progress(self, actor: int) -> int:
        path = self.tmp / "spools" / f"progress_{actor}"
        return int(path.read_text()) if path.exists() else 0

    def wait_progress(self, actor: int, at_least: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while self.progress(actor) < at_least:
            assert time.monotonic() < deadline, f"actor {actor} stalled at {self.progress(actor)}"
            time.sleep(0.02)

    def finish(self, learner: subprocess.Popen, actors: list[subprocess.Popen]) -> str:
        for proc in actors:
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, out
        learner.send_signal(signal.SIGTERM)
        out, _ = learner.communicate(timeout=60)
        assert learner.returncode == 0, out
        return out

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def peers(tmp_path):
    p = Peers(tmp_path)
    yield p
    p.close()


def received(run_dir: Path) -> dict[int, np.ndarray]:
    buffer, _, _ = load(run_dir)
    states = buffer.obs["state"][: len(buffer)]
    return {int(a): np.sort(states[states[:, 0] == a, 1]).astype(int) for a in np.unique(states[:, 0])}


def assert_exactly(run_dir: Path, totals: dict[int, int]) -> None:
    got = received(run_dir)
    assert sorted(got) == sorted(totals)
    for actor, total in totals.items():
        counters = got[actor]
        assert len(counters) == len(np.unique(counters)), f"actor {actor}: duplicated transitions"
        missing = sorted(set(range(total)) - set(counters.tolist()))
        assert not missing, f"actor {actor}: {len(missing)} transitions lost, first {missing[:5]}"
        assert len(counters) == total


def test_a_killed_and_restarted_learner_loses_and_doubles_nothing(peers):
    learner = peers.learner()
    actors = [peers.actor(a, total=20_000) for a in (0, 1)]
    peers.wait_progress(0, 6_000)
    learner.send_signal(signal.SIGKILL)
    learner.wait()
    # a poison batch an older learner acknowledged: a metrics row its consumer cannot take
    poison = wire.pack({"t": "batch", "seq": 0, "stream": "metrics", "data": [{"actor": 7}]})
    poisoned = DurableLog(peers.run_dir / "log")
    list(poisoned.replay())
    poisoned.append(777, 0, poison)
    poisoned.close()
    peers.wait_progress(0, 9_000)  # the actors go on while the learner is down
    learner = peers.learner()
    out = peers.finish(learner, actors)
    assert_exactly(peers.run_dir, {0: 20_000, 1: 20_000})
    assert "replayed" in out  # batches acknowledged after the last checkpoint came back from the log
    assert "quarantined logged batch 0 of source 777" in out
    audits = audit_peers(peers)
    assert [(a.actor, a.transitions, a.in_buffer, a.problems) for a in audits if a.actor >= 0] == [
        (0, 20_000, 20_000, []), (1, 20_000, 20_000, [])]  # fmt: skip
    assert (
        report(audits)[-1].startswith("no batch or transition lost")
        and "1 batches quarantined" in report(audits)[-1]
    )


def audit_peers(peers):
    buffer, _, ledger = load(peers.run_dir)
    spools = sorted((peers.tmp / "spools").glob("actor_*"))
    return audit({"online": buffer}, ledger, peers.run_dir / "log", spools)


def test_a_killed_actor_resends_its_spool_after_a_restart(peers):
    learner = peers.learner()
    first = peers.actor(0, total=20_000, interval_s=0.02)
    peers.wait_progress(0, 5_000)
    learner.send_signal(signal.SIGSTOP)  # no acknowledgements for a while: the spool fills
    time.sleep(0.5)
    first.send_signal(signal.SIGKILL)
    first.wait()
    spooled = len(list((peers.tmp / "spools" / "actor_0").glob("*.msg")))
    learner.send_signal(signal.SIGCONT)
    restarted = peers.actor(0, total=20_000, interval_s=0.02)
    peers.finish(learner, [restarted])
    assert spooled >= 10, f"only {spooled} batches were unacknowledged when the actor was killed"
    assert_exactly(peers.run_dir, {0: 20_000})
    (only,) = audit_peers(peers)
    assert (only.made, only.actor_acked, only.waiting, only.in_buffer, only.problems) == (
        200,
        199,
        0,
        20_000,
        [],
    )


def test_a_stopped_learner_does_not_stop_the_actors_and_loses_nothing(peers):
    learner = peers.learner()
    actor = peers.actor(0, total=6_000, batch=50, interval_s=0.02)
    peers.wait_progress(0, 500)
    learner.send_signal(signal.SIGSTOP)
    before = peers.progress(0)
    time.sleep(10)
    during = peers.progress(0)
    learner.send_signal(signal.SIGCONT)
    out = peers.finish(learner, [actor])
    assert during - before >= 1_000, f"the actor stalled while the learner was stopped ({before} -> {during})"
    assert_exactly(peers.run_dir, {0: 6_000})
    assert "reconnects" not in out  # (the learner's own output)


def test_hostile_frames_are_rejected_and_the_learner_keeps_serving(peers):
    learner = peers.learner()
    rng = np.random.default_rng(0)
    attacker = RawActor(peers.port)

    from robokit.link import wire

    hello = {"t": "hello", "protocol": wire.PROTOCOL, "actor": 9, "source": 99}
    good_batch = wire.pack({"t": "batch", "seq": 0, "stream": "transitions", "data": {}})
    sent = 0
    for i in range(10_000):
        kind = i % 5
        if kind == 0:
            frame = rng.bytes(int(rng.integers(0, 300)))
        elif kind == 1:
            frame = good_batch[: int(rng.integers(0, len(good_batch)))]
        elif kind == 2:
            frame = msgpack.packb({"t": "batch", "seq": int(rng.integers(-5, 5)), "stream": "transitions"})
        elif kind == 3:
            frame = msgpack.packb([1, 2, {"t": 3}])
        else:
            wrong_spec = {"observations": [["state", [3], "float64"]], "action_dim": 2}
            frame = wire.pack({**hello, "spec": wrong_spec})
        attacker.send_frame(frame)
        sent += 1
    with socket.create_connection(("127.0.0.1", peers.port)) as raw:  # not even zmq
        raw.sendall(rng.bytes(100_000))
    actor = peers.actor(0, total=2_000)
    out = peers.finish(learner, [actor])
    attacker.close()
    assert_exactly(peers.run_dir, {0: 2_000})
    rejected = int(out.rsplit("rejected ", 1)[1].split()[0])
    assert rejected >= 0.6 * sent, out[-2000:]


def mutate(value, rng: np.random.Generator, depth: int = 0):
    """`value` with one random change somewhere inside: a field dropped, retyped, resized or made
    hostile (huge, negative, NaN, bytes keys, deep nesting), as a fuzzer of the wire would."""
    hostile = [None, True, -1, 2**63 - 1, -(2**63), 2**64 - 1, 1e308, float("nan"), float("inf"), ""]
    hostile += ["x" * 5000, b"\x00" * 7, [], {}, [[[[]]]], {b"k": 1}, {"t": "batch"}, [2**62, 4], 3.5]
    if isinstance(value, dict) and value and rng.random() < 0.85:
        keys = list(value)
        key = keys[int(rng.integers(len(keys)))]
        out = dict(value)
        roll = rng.random()
        if roll < 0.15:
            del out[key]
        elif roll < 0.25:
            out[b"x" if rng.random() < 0.5 else "extra"] = hostile[int(rng.integers(len(hostile)))]
        else:
            out[key] = mutate(value[key], rng, depth + 1)
        return out
    if isinstance(value, list) and value and rng.random() < 0.85:
        out = list(value)
        i = int(rng.integers(len(out)))
        out[i] = mutate(out[i], rng, depth + 1)
        if rng.random() < 0.1:
            out.append(out[i])
        return out
    if isinstance(value, bytes) and value and rng.random() < 0.7:
        cut = int(rng.integers(len(value)))
        return value[:cut] if rng.random() < 0.5 else value + bytes(rng.integers(0, 255, cut, dtype=np.uint8))
    if isinstance(value, int) and not isinstance(value, bool) and rng.random() < 0.5:
        return int(value + rng.integers(-3, 4))
    return hostile[int(rng.integers(len(hostile)))]


def test_a_seeded_fuzzer_stops_nothing_and_the_buffers_hold_exactly_the_real_actors_rows(peers):
    """Thousands of mutated hellos, batches (every stream), pings and params replies from a peer
    that completed a handshake; then a real actor must still be served, exactly."""
    learner = peers.learner()
    rng = np.random.default_rng(18)
    raw = RawActor(peers.port)
    hello = {"t": "hello", "protocol": wire.PROTOCOL, "actor": 9, "source": 99, "config_hash": "link-test",
             "spec": wire.spec_to_wire(SPEC), "paced": False, "acked": -1}  # fmt: skip
    row = {"actor": 9, "episode_return": 1.0, "episode_length": 3, "success": False, "time": 0.0}
    fuzzed = transitions(9, 0, 4)
    valid = [
        hello,
        {"t": "ping", "version": 3},
        {"t": "batch", "seq": 0, "stream": "metrics", "data": [row]},
        {"t": "batch", "seq": 0, "stream": "corrections", "data": [{"actor": 9, "time": 0.0, "text": "go"}]},
        {"t": "batch", "seq": 0, "stream": "transitions", "data": wire.encode_transitions(fuzzed, SPEC)},
    ]  # fmt: skip
    raw.send(hello)
    sent = 0
    for _ in range(3000):
        message = mutate(valid[int(rng.integers(len(valid)))], rng)
        try:
            frame = msgpack.packb(message, use_bin_type=True)
        except (TypeError, ValueError, OverflowError):
            continue
        raw.send_frame(frame)
        sent += 1
        if sent % 200 == 0:
            raw.send(hello)  # back into a session, so that deep checks are reached
            while raw.sock.poll(0):
                raw.sock.recv()
    raw.close()
    actor = peers.actor(0, total=2_000)
    out = peers.finish(learner, [actor])
    got = received(peers.run_dir)
    assert sent > 2_500 and sorted(got) in (
        [0],
        [0, 9],
    )  # the fuzzer's own rows only if valid ones slipped through
    assert len(got[0]) == 2_000 and np.array_equal(got[0], np.arange(2_000))
    assert "Traceback" not in out and "could not handle it" not in out, out[-3000:]


def test_the_link_refuses_a_mismatched_actor_naming_what_differs_on_both_sides(tmp_path):
    from robokit.link.zmq_actor import LinkRefused, ZmqActorLink
    from robokit.link.zmq_learner import ZmqLearnerLink
    from robokit.types import EnvSpec

    config = {"utd_ratio": 1, "actor_lr": 3e-4}
    same = {"reward": "classifier abc", "frames": "encoder 123"}
    learner = ZmqLearnerLink("127.0.0.1:0", SPEC, config, tmp_path / "log", **same)
    other_spec = EnvSpec(observations=(("state", (4,), "float32"),), action_dim=2)
    cases = {
        "spec": ((other_spec, config, same), "shape [4]"),
        "config": ((SPEC, {**config, "utd_ratio": 2}, same), "utd_ratio is 2 on the actor, 1 on"),
        "reward": (
            (SPEC, config, {**same, "reward": "simulator"}),
            "rewards episodes by 'simulator', the learner by classifier abc",
        ),
        "frames": (  # same embedding size, another encoder: the policy would read nonsense
            (SPEC, config, {**same, "frames": "encoder 456"}),
            "reads 'encoder 456', the learner's encoder 123: start the actor with the learner's --encoder",
        ),
        "raw frames": (
            (SPEC, config, {"reward": "classifier abc"}),
            "policy reads 'raw frames', the learner's encoder 123",
        ),
    }
    try:
        for i, (name, ((spec, agent_config, sources), words)) in enumerate(cases.items()):
            address = f"127.0.0.1:{learner.port}"
            actor = ZmqActorLink(address, i, spec, agent_config, tmp_path / name, **sources)
            try:
                with pytest.raises(LinkRefused) as refused:
                    actor.wait_connected(10)
                assert words in str(refused.value)
                assert any(words in line for line in learner.events())
            finally:
                actor.close()
        matching = ZmqActorLink(f"127.0.0.1:{learner.port}", 9, SPEC, dict(config), tmp_path / "same", **same)
        try:
            assert matching.wait_connected(10)
        finally:
            matching.close()
    finally:
        learner.close()


def test_curve_keys_admit_their_actor_and_refuse_others(tmp_path):
    from robokit.link.keys import create_keys
    from robokit.link.zmq_actor import ZmqActorLink
    from robokit.link.zmq_learner import ZmqLearnerLink

    keys = create_keys(tmp_path / "keys")
    assert oct(os.stat(keys).st_mode & 0o777) == "0o700"
    learner = ZmqLearnerLink("127.0.0.1:0", SPEC, "h", tmp_path / "log", keys=keys)
    try:
        address = f"127.0.0.1:{learner.port}"
        stranger = ZmqActorLink(address, 1, SPEC, "h", tmp_path / "s1")
        keyed = ZmqActorLink(address, 2, SPEC, "h", tmp_path / "s2", keys=keys)
        try:
            assert keyed.wait_connected(10)
            assert not stranger.wait_connected(3)
        finally:
            stranger.close()
            keyed.close()
    finally:
        learner.close()
    with pytest.raises(ValueError, match="without keys"):
        ZmqLearnerLink("0.0.0.0:0", SPEC, "h", tmp_path / "log2")
