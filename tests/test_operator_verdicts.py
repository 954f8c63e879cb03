"""An operator's verdicts on claimed successes (robokit.rewards.operator_verdicts), answered from
the console served beside a loop in this process (robokit.console.local): a real env, the real
page server and a WebSocket client."""

from __future__ import annotations

import json
import signal
import threading
import time

import numpy as np
import pytest

from robokit.rewards.operator_verdicts import OperatorVerdicts
from robokit.rewards.success_checks import SuccessChecks


def test_a_claim_waits_for_the_operator_and_an_answer_nobody_asked_for_is_ignored():
    said = []
    verdicts = OperatorVerdicts(say=said.append, wait_s=5)
    assert not verdicts.give(True)  # nothing waits: a stray click decides nothing
    threading.Timer(0.2, lambda: verdicts.give(False)).start()
    assert verdicts({}) is False and "Confirm with s" in said[0]
    threading.Timer(0.2, lambda: verdicts.give(True)).start()
    assert verdicts({}) is True and not verdicts.asking
    quick = OperatorVerdicts(say=said.append, wait_s=0.2)
    assert quick({}) is False and quick.unanswered == 1 and "counted as rejected" in said[-1]


def test_the_console_shows_a_loops_env_pauses_it_answers_its_claims_and_stops_it(tmp_path):
    pytest.importorskip("uvicorn", reason="pip install 'robokit[console]'")
    from websockets.sync.client import connect

    from robokit.console.local import serve_local
    from robokit.console.server import ConsoleOptions
    from robokit.envs.registration import make

    verdicts = OperatorVerdicts(say=lambda line: None, wait_s=30)
    checks = SuccessChecks({"forward": None}, labeller=verdicts)
    server, watch = serve_local(ConsoleOptions(port=0), tmp_path, verdicts, say=lambda line: None)
    stops = []
    previous = signal.signal(signal.SIGINT, lambda *_: stops.append(True))
    steps, running = [0], threading.Event()
    running.set()

    def loop():  # the training loop: its env is made here (a renderer belongs to its thread)
        env = watch(make("robokit/PickCubeVision-v0"))
        env.reset(seed=0)
        try:
            while running.is_set():
                env.step(env.action_space.sample())
                steps[0] += 1
        finally:
            env.close()

    def until(ws, wanted, what):
        deadline = time.time() + 30
        while time.time() < deadline:
            message = ws.recv(timeout=30)
            if isinstance(message, str) and wanted(json.loads(message)):
                return json.loads(message)
        raise AssertionError(f"never saw {what}")

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    url = server.url.replace("http://", "ws://") + "ws"
    try:
        with connect(url, origin=server.url.rstrip("/")) as ws:
            until(ws, lambda m: m.get("cameras") and m["actors"][0]["tcp"], "the env's cameras and arm")
            ws.send(json.dumps({"t": "control", "command": "success", "actor": 0}))
            refusal = until(ws, lambda m: m["t"] == "error", "a refusal")
            assert "no claimed success is waiting" in refusal["reason"]
            ws.send(json.dumps({"t": "control", "command": "pause", "actor": 0}))
            until(ws, lambda m: m["t"] == "state" and m["actors"][0]["link"]["paused"], "paused")
            time.sleep(0.3)
            held = steps[0]
            time.sleep(1.0)
            assert steps[0] == held, "the env stepped while paused"
            ws.send(json.dumps({"t": "control", "command": "resume", "actor": 0}))
            until(ws, lambda m: m["t"] == "state" and not m["actors"][0]["link"]["paused"], "resumed")
            time.sleep(0.5)
            assert steps[0] > held
            frames = {"front": np.zeros((128, 128, 3), np.uint8)}
            verdict = []
            asking = threading.Thread(target=lambda: verdict.append(checks.check("forward", frames, {})))
            asking.start()
            until(ws, lambda m: m["t"] == "state" and m["actors"][0]["link"]["waiting"], "a claim waiting")
            ws.send(json.dumps({"t": "control", "command": "failure", "actor": 0}))
            asking.join(timeout=10)
            assert verdict == [False] and checks.rejected == {"forward": 1}
            ws.send(json.dumps({"t": "control", "command": "stop", "actor": 0}))
            until(ws, lambda m: m["t"] == "state" and m["actors"][0]["link"]["stopping"], "stopping")
        deadline = time.time() + 5
        while not stops and time.time() < deadline:
            time.sleep(0.05)
        assert stops, "stop did not reach the loop (as Ctrl-C would)"
    finally:
        running.clear()
        thread.join(timeout=10)
        signal.signal(signal.SIGINT, previous)
        server.close()
    logged = [
        json.loads(line) for line in (tmp_path / "console" / "interventions.jsonl").read_text().splitlines()
    ]
    assert [row["command"]["command"] for row in logged] == ["success", "pause", "resume", "failure", "stop"]
    assert "refused" in logged[0] and "refused" not in logged[3]


def test_an_operator_labeller_without_checks_is_one_sentence(capsys):
    from robokit.cli.main import main

    with pytest.raises(SystemExit) as stopped:
        main(["train-reset-free", "--labeller", "operator"])
    assert stopped.value.code == 2 and "add --check-successes" in capsys.readouterr().err
