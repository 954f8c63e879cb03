"""The run folder: config.json, checkpoints, logs and the learning curve, a trained policy loaded back."""
