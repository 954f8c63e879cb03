"""FamO2O against fixed-beta IQL and RLPD on mixed-quality offline data, offline then online.

Run: python examples/famo2o_compare.py --env PickCube-v0 --seeds 0 1 2 --out runs/famo2o-compare

Per seed: mixed-quality data (`robokit record --mixed-quality`); FamO2O and fixed-beta IQL at each
--betas pretrained offline on them (`robokit pretrain --algo famo2o`), then finetuned online for
--online-steps env steps (`robokit train --algo famo2o --init RUN`, the data kept in the mixer at
--demo-ratio); RLPD (robokit's SAC) trained online with the same data as its demos. Every figure is
a success rate on 50 fresh episodes; the dip is the end of offline training minus the first online
evaluation. Writes OUT/summary.json and OUT/curves.png (every method's online curve, its offline
result at 0 env steps).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np


def robokit(*args: str) -> None:
    print("$ robokit", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "robokit.cli", *args], check=True)


def evals(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "evals.jsonl").read_text().splitlines() if line.strip()]


def one_seed(args, seed: int, out: Path) -> dict:
    data = out / f"data_{seed}"
    if not data.exists():
        robokit("record", "--env", args.env, "--mixed-quality", "--episodes", str(args.episodes),
                "--seed", str(1000 * seed), "--out", str(data))  # fmt: skip
    online = ("--max-env-steps", str(args.online_steps), "--eval-every", str(args.online_steps // 4),
              "--eval-episodes", "50", "--final-eval-episodes", "50", "--stop-at-success", "None",
              "--demo-ratio", str(args.demo_ratio), "--seed", str(seed), "--actors", "1")  # fmt: skip
    balance_range = ("--beta-lo", str(args.beta_range[0]), "--beta-hi", str(args.beta_range[1]))
    methods = {"famo2o": balance_range} | {f"iql_beta_{b:g}": ("--fixed-beta", str(b)) for b in args.betas}
    average = () if args.policy_average is None else ("--policy-average", str(args.policy_average))
    results = {}
    for name, options in methods.items():
        offline, finetuned = out / f"{name}_{seed}_offline", out / f"{name}_{seed}_online"
        if not offline.exists():
            robokit("pretrain", "--algo", "famo2o", "--env", args.env, "--data", str(data), "--steps",
                    str(args.offline_steps), "--eval-every", str(args.offline_steps), "--eval-episodes", "50",
                    "--seed", str(seed), "--run-dir", str(offline), *options, *average)  # fmt: skip
        if not finetuned.exists():
            robokit("train", "--algo", "famo2o", "--env", args.env, "--init", str(offline), "--run-dir",
                    str(finetuned), *online)  # fmt: skip
        rows = evals(finetuned)
        results[name] = {
            "offline": evals(offline)[-1]["success_rate"],
            "online_curve": [(r["env_steps"], r["success_rate"]) for r in rows],
            "online": rows[-1]["success_rate"],
        }
        results[name]["dip"] = results[name]["offline"] - rows[0]["success_rate"]
        if name == "famo2o":
            results[name]["balance"] = json.loads((finetuned / "balance.json").read_text())
    rlpd = out / f"rlpd_{seed}"
    if not args.rlpd:
        return results
    if not rlpd.exists():
        robokit("train", "--env", args.env, "--demos", str(data), "--run-dir", str(rlpd), *online)
    rows = evals(rlpd)
    results["rlpd"] = {"offline": None, "online_curve": [(r["env_steps"], r["success_rate"]) for r in rows],
                       "online": rows[-1]["success_rate"], "dip": None}  # fmt: skip
    return results


def plot(per_seed: dict, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name in next(iter(per_seed.values())):
        curves = [np.asarray(seed_results[name]["online_curve"]) for seed_results in per_seed.values()]
        steps = curves[0][:, 0]
        mean = np.mean([c[: len(steps), 1] for c in curves], axis=0)
        offline = [r[name]["offline"] for r in per_seed.values()]
        xs, ys = (steps, mean) if offline[0] is None else ([0, *steps], [np.mean(offline), *mean])
        ax.plot(xs, ys, marker="o", label=name, linewidth=2.5 if name == "famo2o" else 1.2)
    ax.set_xlabel("online env steps (0: end of offline training)")
    seeds = f"{len(per_seed)} seed{'s' if len(per_seed) > 1 else ''}"
    ax.set_ylabel(f"success, 50 fresh episodes (mean of {seeds})")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="PickCube-v0")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=100, help="mixed-quality episodes per seed")
    parser.add_argument("--offline-steps", type=int, default=10_000)
    parser.add_argument("--online-steps", type=int, default=4_000)
    parser.add_argument("--betas", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    parser.add_argument("--beta-range", type=float, nargs=2, default=[1.0, 10.0], help="FamO2O's [lo, hi]")
    parser.add_argument("--rlpd", action=argparse.BooleanOptionalAction, default=True, help="run RLPD too")
    parser.add_argument("--demo-ratio", type=float, default=0.5, help="offline data's share of each batch")
    parser.add_argument("--policy-average", type=float, help="acting average rate (default 0.001; 0: none)")
    parser.add_argument("--out", type=Path, default=Path("runs/famo2o-compare"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    per_seed = {seed: one_seed(args, seed, args.out) for seed in args.seeds}
    summary = {"args": {k: str(v) for k, v in vars(args).items()}, "per_seed": per_seed}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot(per_seed, args.out, f"{args.env}, mixed-quality data: offline then online")
    for name in per_seed[args.seeds[0]]:
        line = {k: [per_seed[s][name][k] for s in args.seeds] for k in ("offline", "online", "dip")}
        print(f"{name:14s} {line}")


if __name__ == "__main__":
    main()
