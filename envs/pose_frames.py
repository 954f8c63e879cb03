"""Frames for pretraining a pose encoder (robokit.agents.pose_encoder): the scripted expert, with a
noise that varies episode by episode (so that the cube is seen everywhere: on the table, in the
gripper, dropped), under visual randomisation, each frame with the simulator's object features and
the object's position relative to the gripper.

The relative position is the target that carries to looks no training frame showed: a camera that
stands a little elsewhere, or lights that cast other shadows, move the object and the gripper
together in the image. Measured on PickCube (750 episodes, 3,000 steps; 30 episodes with every
look held out): the absolute estimate was off by 3.3 / 2.3 cm in x / y, the relative one by 0.4 / 0.4
cm (0.3 / 0.2 cm under training looks)."""

from __future__ import annotations

import numpy as np

from robokit.envs.experts import make_expert, run_episode
from robokit.envs.registration import make

NOISES = (0.0, 0.3, 0.6, 1.0)


def collect_pose_frames(
    env_id: str,
    episodes: int,
    looks: str | None = "train",
    seed: int = 0,
    camera_size: int = 128,
    every: int = 2,
    image_keys: tuple[str, ...] = ("front", "wrist"),
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """(images per camera, targets, episode index) of every `every`-th frame of `episodes` expert
    episodes (episode i: seed + i, noise NOISES[i % 4]); robokit.agents.pose_encoder.PoseFrames takes
    them. Targets: the task's object features (object_state), then the first three of them (the
    object's position) minus the TCP's."""
    if "Vision" not in env_id:
        raise ValueError(
            f"{env_id} has no cameras: pretrain an encoder on a Vision task (e.g. PickCubeVision-v0)."
        )
    env = make(env_id, camera_size=camera_size, privileged_state=True, **({"looks": looks} if looks else {}))
    try:
        task = env.unwrapped.task
        objects = task.object_state_dim
        images: dict[str, list] = {k: [] for k in image_keys}
        targets, episode = [], []
        for i in range(episodes):
            expert = make_expert(env, noise=NOISES[i % len(NOISES)], seed=seed + i)
            for t, (obs, *_rest) in enumerate(run_episode(env, expert, seed=seed + i)):
                if t % every:
                    continue
                for key in image_keys:
                    images[key].append(obs[key])
                features = obs["state"][-objects:]
                targets.append(np.concatenate([features, features[:3] - task.tcp_pos()]))
                episode.append(i)
    finally:
        env.close()
    return {k: np.stack(v) for k, v in images.items()}, np.asarray(targets, np.float32), np.asarray(episode)
