"""`robokit train --launcher ray`: the learner as a Ray actor (with the CPUs and GPUs it asks for),
its actors as Ray actors it starts (ray_fleet.RayFleet), on a local Ray cluster or an existing one.

This process (the driver) only starts the learner, relays Ctrl-C and prints the result. Ctrl-C
asks the learner to stop as a local run's Ctrl-C does (checkpoint, actors flushed); the learner's
process dying ends the run with its last checkpoint and write-ahead log to --resume from. The
actors' keys are read by the learner from --keys and handed to the actors in memory; the actors'
data go over robokit's zmq link, as with local actor processes.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
from pathlib import Path

from robokit.launch.ray_fleet import RayFleet, RayResources, require_ray


class LearnerHost:
    """The learner in a Ray worker process (a threaded Ray actor: `stop` runs while `run` does)."""

    def __init__(self) -> None:
        self.stop_event = threading.Event()

    def run(self, config):
        from rich.console import Console

        from robokit.cli.train import actor_options, train_here

        resources = RayResources(config.actor_cpus, config.actor_restarts)
        curve = _actor_curve(config.keys)

        def fleet(run_config, env_id: str, address: str, console) -> RayFleet:
            options = actor_options(run_config, env_id, address)
            console.print(f"starting {len(options)} actors as Ray actors ({resources.actor_cpus} CPU each)")
            return RayFleet(options, curve, resources)

        return train_here(config, Console(width=200), fleet, self.stop_event, progress=False)[:3]

    def stop(self) -> None:
        self.stop_event.set()


def _actor_curve(keys: Path | None) -> tuple | None:
    """The actors' CURVE keys (public, secret, learner's public) from the learner's keys folder."""
    if keys is None:
        return None
    from robokit.link.keys import actor_keys

    return actor_keys(keys)


def check_resources(ray, config) -> None:
    """One sentence when the cluster cannot place the run."""
    have = ray.cluster_resources()
    need_cpus = config.learner_cpus + config.actors * config.actor_cpus
    if need_cpus > have.get("CPU", 0):
        raise ValueError(
            f"the Ray cluster has {have.get('CPU', 0):g} CPUs and this run asks for {need_cpus:g} "
            f"(learner {config.learner_cpus:g} + {config.actors} actors x {config.actor_cpus:g}): lower "
            "--actor-cpus or --actors, or add machines (ray start --address HEAD)."
        )
    if config.learner_gpus > have.get("GPU", 0):
        raise ValueError(
            f"the Ray cluster has {have.get('GPU', 0):g} GPUs and the learner asks for "
            f"{config.learner_gpus:g}: drop --learner-gpus or add a machine with a GPU to the cluster."
        )


def run_under_ray(config, console) -> None:
    from robokit.cli.train import _report

    if config.robot_config is not None:
        raise ValueError(
            "--launcher ray places simulated actors; a real arm's actor runs beside it: start "
            "`robokit actor --config` there and drop --launcher ray."
        )
    if config.actors < 1:
        raise ValueError("--launcher ray places actor processes: pass --actors 1 or more.")
    from robokit.cli.train import with_run_dir

    ray = require_ray()
    config = with_run_dir(config)
    config = dataclasses.replace(config, run_dir=config.run_dir and Path(config.run_dir).absolute())
    started = not ray.is_initialized()
    if started:
        ray.init(address=config.ray_address, log_to_driver=True, include_dashboard=False)
    learner = None
    try:
        check_resources(ray, config)
        host = ray.remote(LearnerHost).options(
            num_cpus=config.learner_cpus, num_gpus=config.learner_gpus, max_concurrency=2, max_restarts=0
        )
        learner = host.remote()
        report = _wait(ray, learner, learner.run.remote(config), console, config.resume or config.run_dir)
        _report(*report, console, "train")
    finally:
        if learner is not None:
            ray.kill(learner)  # its actors (owned by it) go with it; nothing else is touched
        if started:
            ray.shutdown()


def _wait(ray, learner, ref, console, run_dir: Path):
    """The learner's (config, env id, result), relaying Ctrl-C (or SIGTERM) to it; one sentence if
    it died."""

    def interrupt(*_):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        try:
            while True:
                ready, _ = ray.wait([ref], timeout=0.5)
                if ready:
                    return ray.get(ref)
        except KeyboardInterrupt:
            console.print("stopping: the learner checkpoints and its actors flush their spools")
            learner.stop.remote()
            return ray.get(ref)
    except ray.exceptions.RayActorError as err:
        raise RuntimeError(
            f"the learner's process died ({type(err).__name__}): its last checkpoint and write-ahead log "
            f"are in {run_dir}; go on with --resume {run_dir} --launcher ray."
        ) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


__all__ = ["LearnerHost", "run_under_ray"]
