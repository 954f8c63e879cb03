"""robokit: train manipulation policies in MuJoCo and deploy them on a real Franka arm."""

__version__ = "0.1.0"
