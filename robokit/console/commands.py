"""What an operator can do from the console page, each checked like a link message before anything is
sent, and kept in the run's interventions log (`RUN/console/interventions.jsonl`, fsynced per line)
with who and when, whether it was done or refused and why; and, once an actor acts on a correction
or a control, a line saying so (its episode and step).

    commands = ConsoleCommands(link_say, table, run_dir / "console" / "interventions.jsonl", actors)
    commands.handle('{"t": "say", "text": "go lower", "actor": -1}', who="127.0.0.1:51234")

A command is a JSON object of at most MAX_COMMAND_BYTES:
    {"t": "say", "text": TEXT, "actor": ID or -1, "steps": N (optional)}
    {"t": "control", "command": "pause" | "resume" | "stop" | "success" | "failure", "actor": ID}
A correction goes to the learner's link as the same message `robokit say` sends; the learner checks
it again, records it and pushes it to the actors. A control goes to one actor through the link's
control channel (robokit.link.control), which resends it until the actor acknowledges it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from robokit.data.durable import append_line_durably

log = logging.getLogger("robokit.console")

MAX_COMMAND_BYTES = 4096
DEFAULT_STEPS = 20
ACTED_FIELDS = ("actor", "text", "control", "acted", "episode", "step")


class CommandRefused(ValueError):
    """A command from the page that was not carried out: its message is shown on the page."""


class ConsoleCommands:
    def __init__(
        self,
        send: Callable[[dict], dict],
        table,
        log_path: Path,
        known_actors: Callable[[], set[int]],
        control: Callable[[int, str, str], dict] | None = None,
    ):
        """`send(say_message)` hands a correction to the learner's link and returns its {"id",
        "actors"} (or raises MessageError); `table` embeds the text; `known_actors()` the ids;
        `control(actor, command, who)` hands a control to the link (or raises MessageError)."""
        self.send, self.table, self.known_actors, self.control = send, table, known_actors, control
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)

    def handle(self, raw: str | bytes, who: str) -> dict:
        """Carry out one command from the page; returns the answer to show, or raises CommandRefused
        (logged either way)."""
        command = None
        try:
            command = self._parse(raw)
            answer = self._say(command) if command["t"] == "say" else self._control(command, who)
        except CommandRefused as err:
            self._log(who, command, {"refused": str(err)})
            raise
        self._log(who, command, answer)
        return answer

    def _parse(self, raw: str | bytes) -> dict:
        if len(raw) > MAX_COMMAND_BYTES:
            raise CommandRefused(f"a command is at most {MAX_COMMAND_BYTES} bytes; this one is {len(raw)}.")
        try:
            command = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise CommandRefused("the page sent something that is not JSON; reload the page.") from None
        if not isinstance(command, dict) or command.get("t") not in ("say", "control"):
            kind = command.get("t") if isinstance(command, dict) else type(command).__name__
            raise CommandRefused(f"unknown command {str(kind)[:20]!r}: use 'say' or 'control'.")
        return command

    def _control(self, command: dict, who: str) -> dict:
        from robokit.link import wire
        from robokit.link.control import COMMANDS

        name, actor = command.get("command"), command.get("actor")
        if name not in COMMANDS:
            raise CommandRefused(f"unknown control {str(name)[:20]!r}: use one of {', '.join(COMMANDS)}.")
        if not self._known(actor) or actor == -1:
            raise CommandRefused(f"no actor {str(actor)[:12]} in this run: pick one that is listed.")
        if self.control is None:
            raise CommandRefused("this console cannot pause, stop or label actors.")
        try:
            reply = self.control(actor, name, who)
        except wire.MessageError as err:
            raise CommandRefused(f"the learner refused it: {err}") from None
        return {"t": "controlled", "id": reply.get("id"), "actor": actor, "command": name}

    def _known(self, actor) -> bool:
        whole = isinstance(actor, int) and not isinstance(actor, bool)
        return whole and (actor == -1 or actor in self.known_actors())

    def _say(self, command: dict) -> dict:
        from robokit.language.encoder import LanguageMissing, check_text
        from robokit.link import wire
        from robokit.link.corrections import say_message

        text, actor = command.get("text"), command.get("actor", -1)
        steps = command.get("steps", DEFAULT_STEPS)
        if not isinstance(text, str):
            raise CommandRefused("a correction needs its text: type it in the box.")
        if not self._known(actor):
            raise CommandRefused(f"no actor {str(actor)[:12]} in this run: pick one that is listed, or all.")
        if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= 600:
            raise CommandRefused("steps must be a whole number from 1 to 600.")
        try:
            text = check_text(text)
            embedding = self.table.embed(text)
        except (ValueError, LanguageMissing) as err:
            raise CommandRefused(str(err)) from None
        try:
            reply = self.send(say_message(text, embedding, actor, steps))
        except wire.MessageError as err:
            raise CommandRefused(f"the learner refused it: {err}") from None
        return {"t": "said", "id": reply["id"], "actors": reply["actors"], "text": text, "actor": actor}

    def _log(self, who: str, command: dict | None, outcome: dict) -> None:
        fields = ("t", "text", "command", "actor", "steps")
        brief = {k: command[k] for k in fields if k in command} if command else None
        row = {"time": time.time(), "who": who, **outcome, "command": brief}  # the command as sent
        append_line_durably(self.log_path, json.dumps(row, default=str))


def log_acted(log_path: Path, rows: list[dict]) -> None:
    """What actors did with corrections and controls ("corrections" / "interventions" rows from the
    link), logged beside the commands with the actor's episode and step (a learner handler: it never
    raises into the learner)."""
    for row in rows:
        try:
            kept = {k: row[k] for k in ACTED_FIELDS if k in row}
            line = {"time": time.time(), "who": f"actor {row.get('actor')}", "acted_on": kept}
            append_line_durably(Path(log_path), json.dumps(line, default=str))
        except Exception:  # a full disk must not stop the learner's handlers
            log.warning("could not log what actor %s acted on", row.get("actor"), exc_info=True)
