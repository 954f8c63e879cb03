"""The picture of a FamO2O run a user looks at: the beta its balance model chooses over the object's
start positions (a heat map, balance.png in the run folder), and the mean beta on each half of the
start area (balance.json), where mixed-quality data are good and where they are poor
(robokit.envs.mixed_quality)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from robokit.envs.mixed_quality import centre_y, half_of, start_area

GRID = 25


def beta_grid(agent, params, env, grid: int = GRID, seed: int = 0):
    """(xs, ys, betas[y, x]): the balance model's beta with the arm at its reset pose and the object
    at each point of the start area (the object's x, y in the state's object features)."""
    obs, _ = env.reset(seed=seed)
    task = env.unwrapped.task
    (x0, x1), (y0, y1) = start_area(task)
    xs, ys = np.linspace(x0, x1, grid), np.linspace(y0, y1, grid)
    first = obs["state"].shape[0] - task.object_state_dim  # the object's x, y come first
    states = np.repeat(obs["state"][None], grid * grid, axis=0)
    gx, gy = np.meshgrid(xs, ys)
    states[:, first], states[:, first + 1] = gx.ravel(), gy.ravel()
    batch = {**{k: np.repeat(v[None], grid * grid, axis=0) for k, v in obs.items()}, "state": states}
    return xs, ys, np.asarray(agent.beta(params, batch)).reshape(grid, grid)


def write_balance_map(run_dir: Path, agent, params, env, title: str) -> dict:
    """balance.png and balance.json in `run_dir`; returns the summary (mean and spread per half)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs, ys, betas = beta_grid(agent, params, env)
    task, c = env.unwrapped.task, agent.config
    halves = {"good": [], "poor": []}
    for j, y in enumerate(ys):  # which half a point is on, as the recorder decides it
        halves[half_of(task, y)].extend(betas[j].tolist())
    summary = {
        h: {"mean": float(np.mean(v)), "std": float(np.std(v)), "points": len(v)} for h, v in halves.items()
    }
    summary["range"] = [c.beta_lo, c.beta_hi]
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    extent = (xs[0], xs[-1], ys[0], ys[-1])
    image = ax.imshow(betas, origin="lower", extent=extent, aspect="auto", vmin=c.beta_lo, vmax=c.beta_hi)
    fig.colorbar(image, ax=ax, label="beta chosen (higher: greedier)")
    middle = centre_y(task)  # where mixed-quality recordings switch from good data to poor
    ax.axhline(middle, color="white", linestyle="--", linewidth=1)
    for y, label in ((ys[-1], "good data above (mixed-quality)"), (ys[0], "poor data below")):
        ax.text(xs[0], y, f" {label}", color="white", fontsize=8, va="top" if y > middle else "bottom",
                bbox={"facecolor": "black", "alpha": 0.35, "linewidth": 0})  # fmt: skip
    ax.set_xlabel("object start x (m)")
    ax.set_ylabel("object start y (m)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    tmp = Path(run_dir) / "balance.partial.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(Path(run_dir) / "balance.png")
    (Path(run_dir) / "balance.json").write_text(json.dumps(summary, indent=2))
    return summary


def balance_map_of_run(run_dir: Path) -> dict | None:
    """write_balance_map for a FamO2O run folder's newest checkpoint (its own task); None for a
    fixed-beta run (no balance model)."""
    from robokit.envs.registration import make
    from robokit.runs.policy import load_policy

    policy = load_policy(run_dir)
    if policy.agent.config.fixed_beta is not None:
        return None
    env = make(policy.env_id)
    try:
        title = f"{policy.env_id}: beta chosen per object start ({Path(run_dir).name})"
        return write_balance_map(run_dir, policy.agent, policy.params, env, title)
    finally:
        env.close()


def balance_line(summary: dict) -> str:
    halves = ", ".join(
        f"{h} half {summary[h]['mean']:.2f} +- {summary[h]['std']:.2f}" for h in ("good", "poor")
    )
    return f"beta chosen over the object's start positions: {halves} (balance.png)"
