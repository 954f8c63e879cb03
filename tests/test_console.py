"""The operator console (robokit/console): its page and WebSocket (Starlette's test client), the
checks on every command from the page, the listen policy, and a real training run serving it to a
WebSocket client over 127.0.0.1."""

from __future__ import annotations

import contextlib
import io
import json
import re
import struct

import numpy as np
import pytest

pytest.importorskip("starlette", reason="pip install 'robokit[console]'")

from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from robokit.console.app import make_app
from robokit.console.commands import CommandRefused, ConsoleCommands
from robokit.console.hub import ConsoleHub
from robokit.console.security import ListenPolicy, allowed_origin, write_token
from robokit.types import Transition, TransitionBatch


def camera_batch(actor: int, value: int, steps: int = 3, done_at: int | None = None) -> TransitionBatch:
    """`steps` transitions of an actor whose camera sees a flat image of `value` (a fake actor)."""
    image = lambda k: np.full((16, 16, 3), value + k, np.uint8)  # noqa: E731
    frames = [{"state": np.zeros(4, np.float32), "front": image(k)} for k in range(steps + 1)]
    rows = [
        Transition(frames[k], np.zeros(4, np.float32), 0.5, k == done_at, False, frames[k + 1], 1)
        for k in range(steps)
    ]
    return TransitionBatch.from_rows(rows, ("front", "state"), source=actor)


def read_frame(data: bytes) -> tuple[dict, np.ndarray]:
    from PIL import Image

    (length,) = struct.unpack(">I", data[:4])
    header = json.loads(data[4 : 4 + length])
    return header, np.asarray(Image.open(io.BytesIO(data[4 + length :])))


class Recorder:
    """Stands in for the learner's link where only what reached it matters."""

    def __init__(self):
        self.sent = []

    def __call__(self, message: dict) -> dict:
        self.sent.append(message)
        return {"id": len(self.sent) - 1, "actors": 1}


@pytest.fixture
def table(tmp_path):
    from robokit.language.encoder import EMBEDDING_DIM, EmbeddingTable

    table = EmbeddingTable(tmp_path / "instructions.npz")
    vectors = np.eye(2, EMBEDDING_DIM, dtype=np.float32)
    table.add_all(["go lower", "open the gripper"], vectors)
    return table


def test_the_socket_sends_the_state_and_each_new_frame_once(tmp_path, table):
    import time

    hub = ConsoleHub()
    hub.take_transitions(camera_batch(actor=2, value=40))
    hub.take_metrics([{"actor": 2, "episode_return": 1.5, "success": True, "episode_length": 3}])
    commands = ConsoleCommands(Recorder(), table, tmp_path / "log.jsonl", lambda: set(hub.actors))
    client = TestClient(make_app(hub, commands, ListenPolicy.check("127.0.0.1", None, None, None, False)))
    assert "robokit console" in client.get("/").text
    assert "WebSocket" in client.get("/static/console.js").text
    with client.websocket_connect("/ws") as ws:
        state = ws.receive_json()
        assert [a["actor"] for a in state["actors"]] == [2] and state["env_steps"] == 3
        assert state["actors"][0]["recent_success"] == 1.0 and state["progress"] == [[3, True, 1.5]]
        header, pixels = read_frame(ws.receive_bytes())
        received = header.pop("received")
        assert header == {"actor": 2, "camera": "front", "seq": 0} and abs(int(pixels.mean()) - 43) <= 1
        assert 0 <= time.time() - received < 5  # when the learner took the batch
        assert ws.receive_json()["t"] == "state"  # the next tick: no frame again, the same one
        hub.take_transitions(camera_batch(actor=2, value=100))
        while True:  # the new frame comes once, after a state
            message = ws.receive()
            if message.get("bytes"):
                break
        header, pixels = read_frame(message["bytes"])
        assert header["seq"] == 1 and abs(int(pixels.mean()) - 103) <= 1


def test_a_token_and_the_pages_own_origin_are_required_where_the_policy_says(tmp_path, table):
    token_file = write_token(tmp_path / "console.token")
    policy = ListenPolicy.check("0.0.0.0", token_file, None, None, insecure=True)
    assert policy.warning and "without TLS" in policy.warning
    token = token_file.read_text().strip()
    hub = ConsoleHub()
    commands = ConsoleCommands(Recorder(), table, tmp_path / "log.jsonl", lambda: set())
    client = TestClient(make_app(hub, commands, policy))
    assert client.get("/").status_code == 403 and client.get("/?token=wrong").status_code == 403
    assert client.get(f"/?token={token}").status_code == 200
    for query, origin in ((f"?token={token}", "http://evil.example"), ("?token=wrong", None), ("", None)):
        headers = {"origin": origin} if origin else {}
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect(f"/ws{query}", headers=headers) as ws,
        ):
            ws.receive_json()
        assert refused.value.code == 4403
    with client.websocket_connect(f"/ws?token={token}", headers={"origin": "http://testserver"}) as ws:
        assert ws.receive_json()["t"] == "state"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("{not json", "not JSON"),
        ('{"t": "launch"}', "unknown command 'launch'"),
        ('["say"]', "unknown command 'list'"),
        ('{"t": "say", "text": 5}', "needs its text"),
        ('{"t": "say", "text": "go lower", "actor": 7}', "no actor 7"),
        ('{"t": "say", "text": "go lower", "actor": true}', "no actor True"),
        ('{"t": "say", "text": "go lower", "steps": 0}', "steps must be"),
        ('{"t": "say", "text": "' + "x" * 300 + '"}', "at most 200"),
        ('{"t": "say", "text": "' + "x" * 5000 + '"}', "at most 4096 bytes"),
        ('{"t": "say", "text": "go\\u0000lower"}', "control"),
    ],
)
def test_a_bad_command_is_refused_with_its_reason_logged_and_nothing_sent(tmp_path, table, raw, reason):
    sent = Recorder()
    commands = ConsoleCommands(sent, table, tmp_path / "log.jsonl", lambda: {0})
    with pytest.raises(CommandRefused, match=reason):
        commands.handle(raw, who="127.0.0.1:5")
    assert sent.sent == []
    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert (
        len(logged) == 1
        and reason.split("'")[0] in logged[0]["refused"]
        and logged[0]["who"] == "127.0.0.1:5"
    )


def test_a_correction_from_the_page_reaches_the_learners_link_as_robokit_say_sends_it(tmp_path, table):
    """The real zmq learner link: checked, recorded in said.jsonl, answered; logged as an intervention."""
    from robokit.link.zmq_learner import ZmqLearnerLink
    from robokit.types import EnvSpec

    spec = EnvSpec(observations=(("state", (4,), "float32"),), action_dim=4)
    learner = ZmqLearnerLink("127.0.0.1:0", spec, "console-test", tmp_path / "link_log")
    try:
        commands = ConsoleCommands(
            lambda m: learner.say(m, who="console"), table, tmp_path / "log.jsonl", lambda: {0}
        )
        answer = commands.handle('{"t": "say", "text": "  go   lower ", "actor": 0, "steps": 5}', "me")
        assert answer == {"t": "said", "id": 0, "actors": 0, "text": "go lower", "actor": 0}
        said = learner.corrections()
        assert [(r["text"], r["actor"], r["steps"]) for r in said] == [("go lower", 0, 5)]
        on_disk = (tmp_path / "link_log" / "said.jsonl").read_text().splitlines()
        assert len(on_disk) == 1 and json.loads(on_disk[0])["embedding"][0] == 1.0  # the table's vector
    finally:
        learner.close()
    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert logged[0]["command"]["text"] == "  go   lower " and logged[0]["id"] == 0


def test_off_loopback_the_console_needs_a_token_and_tls_or_an_explicit_insecure(tmp_path):
    token = write_token(tmp_path / "t")
    assert ListenPolicy.check("127.0.0.1", None, None, None, False).token is None
    with pytest.raises(ValueError, match="give it a token"):
        ListenPolicy.check("0.0.0.0", None, None, None, True)
    with pytest.raises(ValueError, match="--console-insecure"):
        ListenPolicy.check("192.168.1.5", token, None, None, False)
    with pytest.raises(ValueError, match="both --console-cert and --console-key"):
        ListenPolicy.check("192.168.1.5", token, tmp_path / "cert.pem", None, False)
    with pytest.raises(ValueError, match="cannot read the console token"):
        ListenPolicy.check("192.168.1.5", tmp_path / "missing", None, None, True)
    assert allowed_origin("http://h:8080", "h:8080") and not allowed_origin("http://x:8080", "h:8080")


def printed(path, pattern: str, process=None, timeout_s: float = 120.0) -> str | None:
    """The first group of `pattern` once a process prints it to the file `path` (None: it did not
    within the timeout, or the process ended)."""
    import time

    deadline = time.time() + timeout_s
    while time.time() < deadline and (process is None or process.poll() is None):
        found = re.search(pattern, path.read_text())
        if found:
            return found.group(1)
        time.sleep(0.3)
    return None


@pytest.fixture(scope="module")
def console_run(tmp_path_factory):
    """A real run (PickCubeVision-v0, one actor process over zmq) serving the console on a free
    port: (the console's http URL, the run folder); SIGINT (Ctrl-C) ends it after the tests."""
    import os
    import signal
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("console")
    run = folder / "run"
    args = ["--env", "PickCubeVision-v0", "--run-dir", str(run), "--actors", "1", "--console", "0"]
    # no update before 50,000 steps: the actor streams its cameras, and Ctrl-C ends the run at once
    args += [
        "--max-env-steps",
        "50000",
        "--start-after",
        "50000",
        "--num-demos",
        "1",
        "--eval-every",
        "50000",
    ]
    env = {**os.environ, "COLUMNS": "300"}
    out, err = open(folder / "stdout.txt", "w"), open(folder / "stderr.txt", "w")  # noqa: SIM115
    # files, not pipes: a pipe nobody reads fills up and blocks the run's progress bar
    proc = subprocess.Popen(
        [sys.executable, "-m", "robokit.cli", "train", *args], stdout=out, stderr=err, env=env
    )
    try:
        url = printed(folder / "stdout.txt", r"operator console: (http://127\.0\.0\.1:\d+/)", proc, 300)
        assert url is not None, (folder / "stderr.txt").read_text()[-2000:]
        yield url, run
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=300)
        out.close()
        err.close()
    assert proc.returncode == 0, (folder / "stderr.txt").read_text()[-2000:]


def test_robokit_train_serves_live_frames_progress_and_corrections_to_a_websocket(console_run):
    """The camera changes, env steps advance, a correction is answered, recorded by the learner's
    link and logged as an intervention."""
    import time

    from websockets.sync.client import connect

    url, run = console_run
    frames, steps, deadline = {}, [], time.time() + 240
    with connect(url.replace("http://", "ws://") + "ws", origin=url.rstrip("/")) as ws:
        while time.time() < deadline and not (
            len(set(frames.get("front", []))) >= 2 and len(set(steps)) >= 2
        ):
            message = ws.recv(timeout=30)
            if isinstance(message, bytes):
                header, pixels = read_frame(message)
                assert header["actor"] == 0  # the actor's id, not its spool's
                frames.setdefault(header["camera"], []).append(pixels.tobytes())
            else:
                state = json.loads(message)
                if state["actors"]:
                    assert [a["actor"] for a in state["actors"]] == [0], state["actors"]
                    steps.append(state["env_steps"])
        assert len(set(frames.get("front", []))) >= 2, f"the front camera never changed: {list(frames)}"
        assert len(set(steps)) >= 2 and steps[-1] > steps[0]
        ws.send(json.dumps({"t": "say", "text": "go lower", "actor": -1}))
        answer = {"t": "state"}
        while answer["t"] == "state":  # frames and states go on meanwhile
            message = ws.recv(timeout=30)
            answer = answer if isinstance(message, bytes) else json.loads(message)
        assert answer["t"] == "said" and answer["text"] == "go lower", answer
    said = [json.loads(line) for line in (run / "link_log" / "said.jsonl").read_text().splitlines()]
    assert "go lower" in [r["text"] for r in said]
    logged = [json.loads(line) for line in (run / "console" / "interventions.jsonl").read_text().splitlines()]
    assert any(row.get("t") == "said" and row["command"]["text"] == "go lower" for row in logged)


@contextlib.contextmanager
def browser_page(url: str):
    """A page of Debian's Chromium, driven by Playwright, open at `url` (skips without them)."""
    import shutil

    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium: apt-get install chromium")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url)
            page.wait_for_selector("img.camera[data-seq]", timeout=120_000)
            yield page
        finally:
            browser.close()


def test_the_page_in_a_real_browser_shows_the_cameras_moving_and_sends_a_correction(console_run, tmp_path):
    """Chromium: the camera image, the step counter and the arm's TCP change; a typed correction is
    answered on the page and the actor's answer (it acted on it, or could not) is listed; a bad one
    shows its reason."""
    url, run = console_run
    with browser_page(url) as page:
        first_seq = page.locator("img.camera").first.get_attribute("data-seq")
        first_stats = page.locator(".stats").first.inner_text()
        first_arm = page.inner_text(".arm")
        page.wait_for_function(
            "seq => document.querySelector('img.camera').dataset.seq !== seq", arg=first_seq, timeout=60_000
        )
        page.wait_for_function(
            "text => document.querySelector('.stats').innerText !== text", arg=first_stats, timeout=60_000
        )
        page.wait_for_function("text => document.querySelector('.arm').innerText !== text", arg=first_arm)
        assert page.inner_text("#actors h3") == "actor 0 running"
        assert "silent" not in page.inner_text("#actors")
        arm = r"TCP x -?\d\.\d{3} y -?\d\.\d{3} z \d\.\d{3} m · gripper \d\.\d{3} m"
        assert re.fullmatch(arm, page.inner_text(".arm")), page.inner_text(".arm")
        page.fill("#say-text", "move a bit to the left")
        page.click("#say button[type=submit]")
        page.wait_for_function("document.querySelector('#say-result').innerText.startsWith('correction')")
        assert "move a bit to the left" in page.inner_text("#say-result")
        # PickCube takes no instructions: the actor says it could not act on it, and the page shows that
        page.wait_for_function("document.querySelector('#actions').innerText.includes('to the left')")
        assert "could not act on" in page.inner_text("#actions")
        page.fill("#say-text", "x" * 199 + "\u0007")
        page.click("#say button[type=submit]")
        page.wait_for_function("document.querySelector('#say-result').innerText.startsWith('not sent')")
        assert "control" in page.inner_text("#say-result")
    said = [json.loads(line)["text"] for line in (run / "link_log" / "said.jsonl").read_text().splitlines()]
    assert "move a bit to the left" in said and not any(t.startswith("xxx") for t in said)


def test_robokit_console_in_its_own_process_shows_the_learner_and_controls_its_actor(console_run, tmp_path):
    """`robokit console --learner`: frames and steps of the learner's actor over the link's watch;
    a label reaches the actor through the learner (recorded in its controls.jsonl), an unknown
    actor is refused on the page; Ctrl-C ends the console cleanly."""
    import signal
    import subprocess
    import sys
    import time

    from websockets.sync.client import connect

    _, run = console_run
    learner = printed(run.parent / "stdout.txt", r"learner listening on (\S+)")  # after the console's
    out = open(tmp_path / "console.txt", "w")  # noqa: SIM115
    log = tmp_path / "interventions.jsonl"
    command = ["console", "--learner", learner, "--port", "0", "--log", str(log)]
    console = subprocess.Popen(
        [sys.executable, "-m", "robokit.cli", *command], stdout=out, stderr=subprocess.STDOUT
    )
    try:
        page = printed(tmp_path / "console.txt", r"operator console: (http://127\.0\.0\.1:\d+/)", console)
        assert page is not None, (tmp_path / "console.txt").read_text()
        deadline = time.time() + 120
        seqs, steps = set(), set()
        with connect(page.replace("http://", "ws://") + "ws", origin=page.rstrip("/")) as ws:
            while (len(seqs) < 2 or len(steps) < 2) and time.time() < deadline:
                message = ws.recv(timeout=30)
                if isinstance(message, bytes):
                    header, pixels = read_frame(message)
                    assert pixels.shape == (128, 128, 3)
                    seqs.add((header["camera"], header["seq"]))
                else:
                    state = json.loads(message)
                    assert state["learner"] is None, state["learner"]
                    steps.add(state["env_steps"])
            assert len(seqs) >= 2 and len(steps) >= 2
            answers = []
            for command in ({"t": "control", "command": "failure", "actor": 0},
                            {"t": "control", "command": "pause", "actor": 9}):  # fmt: skip
                ws.send(json.dumps(command))
                answer = {"t": "state"}
                while answer["t"] == "state":
                    message = ws.recv(timeout=30)
                    answer = answer if isinstance(message, bytes) else json.loads(message)
                answers.append(answer)
        assert answers[0]["t"] == "controlled" and answers[0]["command"] == "failure", answers
        assert answers[1]["t"] == "error" and "no actor 9" in answers[1]["reason"], answers
    finally:
        console.send_signal(signal.SIGINT)
        console.wait(timeout=30)
        out.close()
    assert console.returncode == 0, (tmp_path / "console.txt").read_text()
    controls = [json.loads(line) for line in (run / "link_log" / "controls.jsonl").read_text().splitlines()]
    assert any(c["command"] == "failure" and c["actor"] == 0 and c["who"] != "console" for c in controls)
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert [row["command"]["command"] for row in logged] == ["failure", "pause"] and "refused" in logged[1]


def labelled_success(folder, before) -> list:
    """The episodes written to `folder` since `before` that carry a success label."""
    from robokit.data.datasets import read_episodes

    new = sorted(set(folder.glob("episode_*")) - before)
    return [episode for path in new for episode in read_episodes(path) if episode.infos["success"].any()]


def actor_steps(page) -> int:
    return int(re.search(r"(\d+) env steps", page.inner_text(".stats")).group(1))


def test_the_page_pauses_resumes_labels_and_stops_the_actor(console_run, tmp_path):
    """Pause stops the actor's env steps within a second, resume starts them again; a success
    label lands in the run's labelled frames from the step the actor took it, in the episode it was
    given in; stop ends the actor process cleanly. A screenshot is kept in the test's folder."""
    import time

    url, run = console_run
    with browser_page(url) as page:
        page.click("#actor-0 button.pause")
        clicked = time.monotonic()
        page.wait_for_function("document.querySelector('#actor-0 .mode').innerText === 'paused'")
        time.sleep(max(0.0, clicked + 1.0 - time.monotonic()))  # a second after the click
        paused_at = actor_steps(page)
        time.sleep(1.5)
        assert actor_steps(page) == paused_at, "env steps went on while paused"
        page.click("#actor-0 button.resume")
        page.wait_for_function(
            "n => Number(document.querySelector('.stats').innerText.match(/(\\d+) env steps/)[1]) > n",
            arg=paused_at,
            timeout=30_000,
        )
        folder = run / "labels" / "actor_0"
        before = set(folder.glob("episode_*"))  # an earlier test's labelled episodes
        page.click("#actor-0 button.success")
        labelled = "document.querySelector('#actor-0 .instruction').innerText.endsWith('success')"
        page.wait_for_function(labelled)
        time.sleep(1.5)  # the rates' window (1 s) past the pause
        page.screenshot(path=str(tmp_path / "console.png"), full_page=True)
        deadline = time.time() + 120
        while not labelled_success(folder, before) and time.time() < deadline:
            time.sleep(0.5)  # written when the labelled episode ends
        page.click("#actor-0 button.stop")
        page.wait_for_function("document.querySelector('#actor-0 .mode').innerText === 'stopping'")
    assert (tmp_path / "console.png").stat().st_size > 10_000
    logged = [json.loads(line) for line in (run / "console" / "interventions.jsonl").read_text().splitlines()]
    acted = {r["acted_on"]["control"]: r["acted_on"] for r in logged if "control" in r.get("acted_on", {})}
    assert {"pause", "resume", "success"} <= set(acted), logged
    (episode,) = labelled_success(folder, before)  # an earlier test's failure label may end first
    labels, step = episode.infos["success"], acted["success"]["step"]
    assert not labels[:step].any() and labels[step:].all(), (step, labels)
    # step 0: the label came as a new episode began, so all of that episode is labelled
    assert 0 <= step < len(episode) and episode.infos["sim_success"].shape == labels.shape
    deadline = time.time() + 60
    log = run / "actors" / "actor_0.log"
    while "stopped by the operator" not in log.read_text() and time.time() < deadline:
        time.sleep(0.5)
    assert "stopped by the operator" in log.read_text(), log.read_text()[-2000:]
    stdout = run.parent / "stdout.txt"  # the learner's: its fleet does not restart a stopped actor
    while "actor 0 stopped (exit code 0) and stays down" not in stdout.read_text() and time.time() < deadline:
        time.sleep(0.5)
    assert "actor 0 stopped (exit code 0) and stays down" in stdout.read_text()


def test_without_the_console_extra_the_command_names_what_to_install(monkeypatch):
    import importlib.util

    from robokit.console import require_console

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "uvicorn" else real(name))
    with pytest.raises(RuntimeError, match=r"needs uvicorn: pip install 'robokit\[console\]'"):
        require_console()
