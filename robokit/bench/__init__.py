"""`robokit bench learner|link` (the env bench is robokit.envs.bench, beside the envs it measures)."""
