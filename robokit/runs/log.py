"""What a run leaves for people: TensorBoard events, a JSON-lines log of evaluations, a PNG learning curve."""

from __future__ import annotations

import json
import time
from pathlib import Path


class RunLog:
    def __init__(self, run_dir: Path):
        from tensorboardX import SummaryWriter

        self.run_dir = Path(run_dir)
        self.writer = SummaryWriter(str(self.run_dir / "tb"))
        self.evals_path = self.run_dir / "evals.jsonl"

    def scalars(self, step: int, values: dict[str, float], prefix: str) -> None:
        for name, value in values.items():
            self.writer.add_scalar(f"{prefix}/{name}", value, step)

    def evaluation(self, env_steps: int, wall_s: float, result: dict) -> None:
        self.scalars(env_steps, {"success_rate": result["success_rate"], "return": result["return"]}, "eval")
        row = {"env_steps": env_steps, "wall_s": round(wall_s, 2), "time": time.time(), **result}
        with open(self.evals_path, "a") as f:
            f.write(json.dumps(row) + "\n")

    def evaluations(self) -> list[dict]:
        if not self.evals_path.exists():
            return []
        return [json.loads(line) for line in self.evals_path.read_text().splitlines() if line.strip()]

    def close(self) -> None:
        self.writer.close()

    def plot_curve(self, title: str) -> Path:
        """Success rate against env steps and against wall time, as curve.png in the run folder."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = self.evaluations()
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
        for ax, key, label in ((axes[0], "env_steps", "env steps"), (axes[1], "wall_s", "wall time (s)")):
            ax.plot([r[key] for r in rows], [r["success_rate"] for r in rows], marker="o")
            ax.set_xlabel(label)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("success rate (deterministic eval)")
        axes[0].set_ylim(-0.03, 1.03)
        fig.suptitle(title)
        fig.tight_layout()
        path = self.run_dir / "curve.png"
        tmp = path.with_name("curve.partial.png")
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
        tmp.replace(path)
        return path
