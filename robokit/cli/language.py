"""`robokit say`: an operator's correction, in plain language, to the running actors."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro


@dataclass(frozen=True)
class Say:
    """Correct running actors in plain language, e.g. `robokit say "move a bit to the left"`: the
    learner passes it to its actors, each runs it for --steps control steps, then its own
    instructions again. Without TEXT, read one correction per line from the terminal."""

    text: Annotated[str | None, tyro.conf.Positional, tyro.conf.arg(metavar="TEXT")] = None
    """The correction (at most 200 characters)."""
    learner: str = "127.0.0.1:5555"
    """The learner's HOST:PORT."""
    keys: Path | None = None
    """An authorized actor keys folder (`robokit keys --out KEYS --add-actor operator`), when the
    learner uses keys."""
    actor: int = -1
    """Only this actor (its --actor-id); -1: every actor."""
    steps: int = 20
    """Control steps the actors run the correction for (20: 2 s at 10 Hz)."""


def run(options: Say) -> None:
    from robokit.language.encoder import SentenceEncoder, check_text, require_language
    from robokit.link.corrections import say_message, send_correction

    require_language("robokit say")
    encoder = SentenceEncoder()  # ~10 s the first time (torch); each phrase then ~20 ms
    lines = [options.text] if options.text is not None else _typed_lines()
    for line in lines:
        try:
            text = check_text(line)
        except ValueError as err:
            if options.text is not None:
                raise
            print(f"not sent: {err}")
            continue
        message = say_message(text, encoder.encode([text])[0], options.actor, options.steps)
        reply = send_correction(options.learner, options.keys, message)
        who = "every actor" if options.actor == -1 else f"actor {options.actor}"
        print(
            f"correction {reply['id']} for {who} ({options.steps} steps): {text!r}; "
            f"{reply.get('actors', 0)} connected actor(s) will get it"
        )


def _typed_lines():
    print("type a correction and press Enter (Ctrl-D to stop)", file=sys.stderr)
    for line in sys.stdin:
        if line.strip():
            yield line
