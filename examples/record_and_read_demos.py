"""Record scripted-expert demonstrations of a Vision task as a Minari dataset, then read them back.

Run: python examples/record_and_read_demos.py
The command-line equivalent is `robokit record --env PickCubeVision-v0 --episodes 5 --out DIR`.
"""

import tempfile
from pathlib import Path

import numpy as np

from robokit.data.datasets import read_episodes
from robokit.envs.recording import record_expert


def main(episodes: int = 5, camera_size: int = 128) -> list:
    out = Path(tempfile.mkdtemp()) / "pickcube-vision-demos"

    # Episode i uses seed i; the dataset folder appears only once every episode is written.
    summary = record_expert("PickCubeVision-v0", episodes, out, camera_size=camera_size)
    print(f"expert success rate {summary.success_rate:.0%}, dataset at {summary.path}")

    # Each episode comes back as arrays: T actions and T + 1 observations (images stored losslessly).
    demos = read_episodes(out)
    for i, demo in enumerate(demos):
        front = demo.observations["front"]
        print(
            f"episode {i}: {len(demo)} steps, success={demo.success}, "
            f"front camera {front.shape} {front.dtype}, return {np.sum(demo.rewards):.0f}"
        )
    return demos


if __name__ == "__main__":
    main()
