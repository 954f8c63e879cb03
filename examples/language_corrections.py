"""Language corrections on PackCubes, end to end in one process (needs `pip install -e '.[language]'`).

1. Record instruction-annotated demos: random practice corrections show every fine correction and
   skill in the task's states (with --aim-error the expert also misses its grasps and a simulated
   operator corrects it; with --mixed-demos each demo packs the cubes in an order drawn at random).
2. Behaviour-clone a flow policy that reads the instruction's embedding: the low level.
3. Train the high-level instructor on the same demos; report its accuracy on held-out episodes.
4. Rounds: run the hierarchy on fresh episodes alone, then corrected live by the simulated operator
   (as an actor runs an operator's `robokit say`: Instructed.correct); collect the corrected
   episodes on other seeds (a Minari dataset per round), finetune the instructor on demos plus the
   operators' corrections so far (oversampled), and go again. Per seed, `rounds.json` and
   `corrections.png` show success and corrections per episode round by round; `instructor_<r>` is
   the instructor of round r (`robokit train-instructor` reads and writes the same folders).

Run: python examples/language_corrections.py [--seeds 3]   (mixed-order demos, 50 fresh episodes,
2 rounds: three seeds side by side took 19 minutes on 2 cores, --first-seed K in one process each;
--no-mixed-demos: demos in the wanted order)
"""

import dataclasses
import json
from pathlib import Path

import jax
import numpy as np

from robokit.agents.chunking import chunked
from robokit.agents.ogpo.config import FLOW_PRESETS
from robokit.data.datasets import read_episodes, write_dataset
from robokit.envs.instructed_demos import demo_order, record_instructed
from robokit.envs.operator import OperatorConfig, SimulatedOperator
from robokit.envs.registration import make
from robokit.envs.tasks.pack_cubes import INSTRUCTIONS, ORDER, correction_steps
from robokit.language.encoder import EmbeddingTable
from robokit.language.instructed import Instructed
from robokit.language.instructor import (
    InstructorConfig,
    examples_with_corrections,
    instructor_examples,
    train_instructor,
)
from robokit.language.recorded import EpisodeLog
from robokit.recipes.flow_bc import pretrain_flow_bc
from robokit.runs.policy import load_policy

#: the operator watches once per action chunk (4 steps): 3 watches is a 1.2 s reaction, 5 a 2 s gap
WATCH_PER_CHUNK = OperatorConfig(reaction_steps=3, min_gap_steps=5, stuck_steps=8)


def rollouts(policy, env, table, seeds, operator=None) -> tuple[float, float]:
    """(success rate, corrections per episode) of `policy` in the instructed, chunked `env`."""
    key, successes, said = jax.random.PRNGKey(seeds[0]), [], 0
    for seed in seeds:
        obs, info = env.reset(seed=int(seed))
        if operator is not None:
            operator.reset()
        done = False
        while not done:
            text = operator.watch(info["instruction"]) if operator is not None else None
            if text:  # what an actor does with a correction from the link
                obs, _, _ = env.get_wrapper_attr("correct")(
                    obs, text, table.embed(text), correction_steps(text)
                )
                said += 1
            key, sub = jax.random.split(key)
            batched = {k: v[None] for k, v in obs.items()}
            action = np.asarray(policy.agent.act(policy.params, batched, sub, explore=False))[0]
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        successes.append(bool(info["success"]))
    return float(np.mean(successes)), said / len(seeds)


class Hierarchy:
    """The low level (a flow policy) under an instructor, in PackCubes, measured and corrected."""

    def __init__(self, policy, table: EmbeddingTable, vectors: np.ndarray, order=ORDER):
        self.policy, self.table, self.vectors, self.order = policy, table, vectors, tuple(order)

    def env(self, instructor, log: bool = False):
        """PackCubes under `instructor`, (logged and) wrapped as the low level acts (in chunks)."""
        chooser = instructor.chooser(list(INSTRUCTIONS), self.vectors)
        env = Instructed(make("PackCubes-v0"), self.table, chooser, known=INSTRUCTIONS)
        env.unwrapped.task.order = self.order  # the order the user wants packed (the operator's)
        env = EpisodeLog(env) if log else env
        return env if self.policy is None else self.policy.wrap_env(env)

    def measure(self, instructor, seeds) -> dict:
        env = self.env(instructor)
        operator = SimulatedOperator(env.unwrapped.task, lambda text: None, WATCH_PER_CHUNK)
        alone, _ = rollouts(self.policy, env, self.table, seeds)
        live, per_episode = rollouts(self.policy, env, self.table, seeds, operator)
        env.close()
        return {"alone": alone, "live": live, "corrections_per_episode": per_episode}

    def collect(self, instructor, seeds, out: Path) -> tuple[Path, float]:
        """Corrected episodes on `seeds` as a Minari dataset; (its path, corrections per episode)."""
        env = self.env(instructor, log=True)
        operator = SimulatedOperator(env.unwrapped.task, lambda text: None, WATCH_PER_CHUNK)
        _, per_episode = rollouts(self.policy, env, self.table, seeds, operator)
        log = env.get_wrapper_attr("episodes")
        inner = make("PackCubes-v0")
        path = write_dataset(
            out, log, env.get_wrapper_attr("observation_space"), inner.action_space, env=inner,
            algorithm_name="robokit hierarchy + simulated operator",
            description=f"{len(seeds)} episodes of the hierarchy corrected live by a simulated operator",
        )  # fmt: skip
        env.close()
        return path, per_episode


def finetune(instructor, demos, corrections: list[Path], vectors, steps: int, oversample: float = 5.0):
    """The instructor trained further on demos plus every corrections dataset, corrected steps
    weighted `oversample` times a demo step (robokit train-instructor --start --corrections)."""
    config = dataclasses.replace(instructor.config, steps=steps)
    x, y, weights = examples_with_corrections(demos, corrections, config, oversample)
    return train_instructor((x, y), vectors, config, start=instructor, weights=weights)


def plot_rounds(rounds: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    index = [r["round"] for r in rounds]
    left.plot(index, [r["corrections_per_episode"] for r in rounds], "o-")
    left.set(xlabel="round (correct, then finetune)", ylabel="corrections per episode", ylim=(0, None))
    right.plot(index, [r["alone"] for r in rounds], "o-", label="alone")
    right.plot(index, [r["live"] for r in rounds], "s--", label="corrected live")
    right.set(xlabel="round", ylabel="success on fresh episodes", ylim=(0, 1))
    right.legend()
    for axes in (left, right):
        axes.set_xticks(index)  # rounds are whole numbers
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def held_out_examples(episodes, cut: int, config, first: int, order, mixed: bool) -> tuple:
    """The instructor's examples of the held-out demos (from `cut` on; demo i's seed is first + i),
    all of them and those in the order wanted: with mixed-order demos, the others' first picks
    are, by the user's preference, labels the corrections teach the instructor to drop."""
    held_out = instructor_examples(episodes[cut:] or episodes, config)
    wanted = [e for i, e in enumerate(episodes) if i >= cut and (not mixed or demo_order(first + i) == order)]
    return held_out, instructor_examples(wanted, config) if wanted else held_out


def one_seed(
    seed: int, demos: int, bc_steps: int, episodes: int, rounds: int, folder: Path, practice: float,
    aim_error: float, finetune_steps: int, order: tuple[str, ...], mixed_demos: bool,
) -> dict:  # fmt: skip
    """Demos, the low level, the instructor, then the rounds, for one seed (see main)."""
    folder.mkdir(parents=True, exist_ok=True)
    table = EmbeddingTable.open(folder / "instructions.npz")
    first = 100_000 * seed  # demo i's seed is first + i
    summary = record_instructed(
        "PackCubes-v0", demos, folder / "demos", table, seed=first, aim_error=aim_error,
        practice=practice, mixed_order=mixed_demos,
    )  # fmt: skip
    print(f"demos: {summary.successes}/{summary.episodes} successes, {summary.corrections} corrected steps")

    # the high level, trained on 80% of the demos, measured on the rest
    config = InstructorConfig(steps=1500, seed=seed)
    demo_episodes = read_episodes(summary.path)
    cut = max(1, int(0.8 * len(demo_episodes)))
    vectors = table.embed_all(list(INSTRUCTIONS))
    instructor = train_instructor(instructor_examples(demo_episodes[:cut], config), vectors, config)
    held_out, held_out_in_order = held_out_examples(demo_episodes, cut, config, first, order, mixed_demos)
    instructor.save(folder / "instructor_0", list(INSTRUCTIONS), vectors)

    # the low level: flow BC on chunks of 4 steps, conditioned on the instruction's embedding; it
    # acts from the flow's centre (act_noise 0): one action per state, as a deployed policy should
    flow = dataclasses.replace(FLOW_PRESETS["cpu"], act_noise=0.0)
    hierarchy = Hierarchy(None, table, vectors)
    pretrain_flow_bc(
        "robokit/PackCubes-v0", lambda: chunked(hierarchy.env(instructor), flow.chunk, flow.discount),
        lambda _: summary.path, folder / "low-level", flow,
        steps=bc_steps, eval_every=bc_steps, eval_episodes=2, seed=seed,
    )  # fmt: skip
    hierarchy.policy, hierarchy.order = load_policy(folder / "low-level"), order

    evaluation = np.arange(episodes) + 20_000 + 1_000 * seed
    results, collected = [], []
    for r in range(rounds + 1):
        row = {"round": r, "held_out_accuracy": instructor.accuracy(held_out, vectors)}
        row["held_out_accuracy_in_order"] = instructor.accuracy(held_out_in_order, vectors)
        row |= hierarchy.measure(instructor, evaluation)
        results.append(row)
        print(
            f"seed {seed} round {r}: alone {row['alone']:.0%}, corrected live {row['live']:.0%} "
            f"({row['corrections_per_episode']:.1f} corrections an episode), held-out accuracy "
            f"{row['held_out_accuracy']:.1%} ({row['held_out_accuracy_in_order']:.1%} in the order wanted)"
        )
        if r == rounds:
            break
        seeds = np.arange(episodes) + 50_000 + 1_000 * (10 * seed + r)
        path, _ = hierarchy.collect(instructor, seeds, folder / f"corrections_{r}")
        collected.append(path)
        instructor = finetune(instructor, demo_episodes[:cut], collected, vectors, finetune_steps)
        instructor.save(folder / f"instructor_{r + 1}", list(INSTRUCTIONS), vectors)
    (folder / "rounds.json").write_text(json.dumps(results, indent=1))
    plot_rounds(results, folder / "corrections.png")
    return {"demo_successes": summary.successes, "rounds": results}


def main(
    demos: int = 40,
    bc_steps: int = 25_000,
    episodes: int = 50,
    rounds: int = 2,
    seeds: int = 1,
    folder: Path = Path("runs/language"),
    practice: float = 0.1,
    aim_error: float = 0.0,
    finetune_steps: int = 1000,
    order: tuple[str, ...] = ORDER,
    mixed_demos: bool = True,
    first_seed: int = 0,
) -> dict:
    """Each seed in folder/seed_<k>; `episodes` fresh episodes per measurement; `practice`: the
    rate per step of practice corrections in the demos; `aim_error`: the demonstrator's (corrected)
    grasp misses, m; `order`: the order the cubes are wanted in after the demos (red then blue;
    "--order blue red": a new preference, said to the robot instead of new demos); `mixed_demos`:
    each demo packs the cubes in an order drawn at random (recorded by someone who did not mind the
    order), and the user wants `order`: the operator's corrections teach it. Prints and
    returns every round of every seed, and their means over seeds."""
    options = dict(demos=demos, bc_steps=bc_steps, episodes=episodes, rounds=rounds, practice=practice,
                   aim_error=aim_error, finetune_steps=finetune_steps, order=tuple(order),
                   mixed_demos=mixed_demos)  # fmt: skip
    chosen = range(first_seed, first_seed + seeds)  # seeds k..k+n-1: one process each, side by side
    runs = [one_seed(seed, folder=folder / f"seed_{seed}", **options) for seed in chosen]
    means = [
        {key: float(np.mean([run["rounds"][r][key] for run in runs])) for key in runs[0]["rounds"][r]}
        for r in range(rounds + 1)
    ]
    for row in means:
        print(
            f"mean of {seeds} seed(s), round {row['round']:.0f}: alone {row['alone']:.0%}, live "
            f"{row['live']:.0%}, {row['corrections_per_episode']:.2f} corrections an episode"
        )
    name = "summary.json" if first_seed == 0 else f"summary_from_seed_{first_seed}.json"
    (folder / name).write_text(json.dumps({"options": options, "means": means}, indent=1))
    return {"seeds": runs, "means": means}


if __name__ == "__main__":
    import tyro

    tyro.cli(main)
