"""The simulated world: robokit's FR3 + hand MJCF, the simulated arm and cameras."""
