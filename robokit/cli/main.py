"""`robokit <verb>`: the command line; each verb group lives in its own module here. The cli package
is the only core place that imports robokit.envs and robokit.drivers."""

from __future__ import annotations

import os
import sys

import tyro

from robokit.cli import (
    actor,
    audit,
    bench,
    classifier,
    console,
    doctor,
    encoder,
    evaluate,
    flow,
    hardware,
    language,
    record,
    reset_free,
    train,
)
from robokit.loop.build import ActorOptions

#: verb -> (options dataclass, handler); each dataclass's docstring is the verb's line in --help
VERBS = {
    "record": (record.Record, record.run),
    "train": (train.TrainCommand, train.run),
    "learner": (train.LearnerCommand, train.run),
    "actor": (ActorOptions, actor.run),
    "eval": (evaluate.Eval, evaluate.run),
    "audit": (audit.Audit, audit.run),
    "pretrain": (flow.Pretrain, flow.pretrain),
    "train-classifier": (classifier.TrainClassifier, classifier.run),
    "pretrain-encoder": (encoder.PretrainEncoder, encoder.run),
    "train-reset-free": (reset_free.TrainResetFree, reset_free.run),
    "keys": (hardware.Keys, hardware.keys),
    "find-cameras": (hardware.FindCameras, hardware.find_cameras),
    "robot-check": (hardware.RobotCheck, hardware.robot_check),
    "say": (language.Say, language.run),
    "console": (console.Console, console.run),
    "train-instructor": (language.TrainInstructor, language.train_instructor_command),
    "bench": (bench.Bench, bench.run),
    "doctor": (doctor.Doctor, doctor.run),
}


def main(argv: list[str] | None = None) -> None:
    try:
        _main(argv)
    except BrokenPipeError:  # the reader of a pipe stopped early (`robokit eval --help | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to say
        raise SystemExit(1) from None


def _main(argv: list[str] | None) -> None:
    args = tyro.extras.subcommand_cli_from_dict(
        {name: options for name, (options, _) in VERBS.items()},
        args=argv,
        prog="robokit",
        description="robokit: robot RL in MuJoCo and on a real Franka arm.",
    )
    command = next(name for name, (options, _) in VERBS.items() if options is type(args))
    try:
        VERBS[command][1](args)
    except BrokenPipeError:
        raise
    except (ValueError, OSError, RuntimeError) as err:
        # Errors a user can cause end in one sentence, not a traceback.
        print(f"robokit {command}: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
