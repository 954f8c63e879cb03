"""`robokit actor`: one actor, in a simulated task or on the real arm, streaming to a learner."""

from __future__ import annotations

import signal

from robokit.cli.common import (
    check_reward_classifier,
    frames_source,
    reward_source,
    sim_env_factory,
    sim_options,
)
from robokit.loop.build import ActorOptions


def env_factory(options: ActorOptions):
    """The env `options` name: the real robot of --config, or a simulated task."""
    check_reward_classifier(options.config, options.reward_classifier)
    if options.real:
        if options.instructor is not None or options.encoder is not None:
            raise ValueError(
                "--instructor and --encoder are for simulated tasks so far: drop them with --config."
            )
        from robokit.envs.real import make_real_env

        return lambda: make_real_env(options.config)
    from robokit.envs.registration import check_env_id

    return sim_env_factory(
        check_env_id(options.env),
        options.reward_classifier,
        options.instructor,
        options.encoder,
        sim_options(options.looks, options.cameras_like),
    )


def built_actor(options: ActorOptions, curve: tuple | None = None):
    """The actor `options` describe, built in this process (robokit.loop.build.build_actor) with its
    env and reward; `curve` hands it CURVE keys in memory instead of --keys (robokit.launch)."""
    from robokit.loop.build import build_actor

    reward = reward_source(options.config, options.reward_classifier)
    make_env = env_factory(options)  # a real robot with --encoder: one sentence, here
    return build_actor(options, make_env, reward, curve, frames_source(options.encoder))


def run(options: ActorOptions) -> None:
    from robokit.link.zmq_actor import LinkRefused
    from robokit.loop.fleet import exit_with_parent

    actor_run = built_actor(options)
    stopping = []

    def request_stop(*_) -> None:
        stopping.append(True)
        actor_run.link.release()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    exit_with_parent()
    try:
        actor_run.run(lambda: bool(stopping))
    except LinkRefused as err:
        raise RuntimeError(str(err)) from None
    finally:
        actor_run.close()
