"""`robokit bench learner|link|language` (the env bench is robokit.envs.bench, beside the envs it
measures; the robot's is robokit.drivers.franka_bench)."""


def bench_row(bench: str, case: str, metric: str, value: float, unit: str, digits: int = 3) -> dict:
    """One measurement as `robokit bench --json` prints it."""
    value = round(float(value), digits)
    return {"bench": bench, "case": case, "metric": metric, "value": value, "unit": unit}
