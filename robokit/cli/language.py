"""`robokit say`: an operator's correction, in plain language, to the running actors."""

from __future__ import annotations

import dataclasses
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

    require_language()
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


@dataclass(frozen=True)
class TrainInstructor:
    """Train the high-level instructor on instruction-annotated demos (`robokit record --instructed`),
    or finetune one (--start) on demos plus corrections; prints the accuracy on held-out demos."""

    data: Path
    """Annotated demos (a Minari dataset from `robokit record --instructed`)."""
    out: Path
    """Folder to write the instructor to (parameters, input statistics, instruction list)."""
    corrections: tuple[Path, ...] = ()
    """Annotated episodes with operators' corrections (datasets, or folders of them such as a run's
    corrections/ folder, where each actor writes the episodes it was corrected in): their corrected
    steps are oversampled."""
    start: Path | None = None
    """An instructor to finetune instead of training a new one."""
    oversample: float = 5.0
    """Weight of a corrected step against a demo step."""
    held_out: float = 0.2
    """Share of --data's episodes (the last ones) kept out of training to measure accuracy."""
    steps: int = 3000
    seed: int = 0


def train_instructor_command(options: TrainInstructor) -> None:
    import numpy as np

    from robokit.data.datasets import read_episodes
    from robokit.language.encoder import EmbeddingTable, require_language, table_beside
    from robokit.language.instructor import (
        Instructor,
        InstructorConfig,
        examples_with_corrections,
        instructor_examples,
        train_instructor,
    )

    require_language()
    episodes = read_episodes(options.data)
    if "instruction_id" not in episodes[0].infos:
        raise ValueError(f"{options.data} has no instructions: record it with `robokit record --instructed`.")
    cut = max(1, round(len(episodes) * (1 - options.held_out)))
    train_eps, test_eps = episodes[:cut], episodes[cut:]
    texts = _instructions(options.data)
    table = EmbeddingTable.open(table_beside(options.data))
    vectors = table.embed_all(texts)
    start = None
    if options.start is not None:
        start, start_texts = Instructor.load(options.start)
        if start_texts != texts:
            raise ValueError(
                f"{options.start} knows other instructions than {options.data}: train a new one."
            )
    config = start.config if start is not None else InstructorConfig(seed=options.seed)
    config = dataclasses.replace(config, steps=options.steps, seed=options.seed)
    x, y, weights = examples_with_corrections(train_eps, options.corrections, config, options.oversample)
    held_out = instructor_examples(test_eps, config) if test_eps else (x[:0], y[:0])
    if start is not None:
        print(f"before: held-out accuracy {start.accuracy(held_out, vectors):.1%}")
    instructor = train_instructor((x, y), vectors, config, start=start, weights=weights)
    instructor.save(options.out, texts, vectors)
    train_accuracy, test_accuracy = (
        instructor.accuracy((x, y), vectors),
        instructor.accuracy(held_out, vectors),
    )
    print(
        f"{len(y)} examples ({int(np.sum(weights != 1))} of them corrected); train accuracy "
        f"{train_accuracy:.1%}, held-out accuracy {test_accuracy:.1%} on {len(test_eps)} episodes; "
        f"saved to {options.out}"
    )


def _instructions(data: Path) -> list[str]:
    """The instructions the dataset's instruction_ids index: those of the task it was recorded in
    (PackCubes-v0, PickCube-v0, Relocate-v0; the dataset names its env)."""
    from robokit.data.datasets import open_dataset
    from robokit.envs.registration import make

    spec = open_dataset(data).spec.env_spec
    env = make(spec.id) if spec is not None else None
    try:
        texts = list(getattr(env.unwrapped.task, "instructions", ()) if env is not None else ())
    finally:
        if env is not None:
            env.close()
    if not texts:
        raise ValueError(
            f"{data} names no task with instructions: record it with `robokit record --instructed`."
        )
    return texts
