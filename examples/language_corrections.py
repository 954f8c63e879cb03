"""Language corrections on PackCubes, end to end in one process (needs `pip install -e '.[language]'`).

1. Record instruction-annotated demos: the scripted expert misses its grasps by 2-4 cm, as an
   imperfect policy does, and a simulated operator corrects it ("move a bit to the left").
2. Behaviour-clone a flow policy that reads the instruction's embedding: the low level.
3. Train the high-level instructor on the same demos; report its accuracy on held-out episodes.
4. Run the low level under the instructor on fresh episodes: alone, then corrected live by the
   simulated operator, as an actor runs an operator's `robokit say` (Instructed.correct).

Run: python examples/language_corrections.py     (~10 minutes on 2 cores with the defaults)
"""

from pathlib import Path

import jax
import numpy as np

from robokit.agents.chunking import chunked
from robokit.agents.ogpo.config import FLOW_PRESETS
from robokit.data.datasets import read_episodes
from robokit.envs.instructed_demos import record_instructed
from robokit.envs.operator import OperatorConfig, SimulatedOperator
from robokit.envs.registration import make
from robokit.envs.tasks.pack_cubes import INSTRUCTIONS, correction_steps
from robokit.language.encoder import EmbeddingTable
from robokit.language.instructed import Instructed
from robokit.language.instructor import InstructorConfig, instructor_examples, train_instructor
from robokit.recipes.flow_bc import pretrain_flow_bc
from robokit.runs.policy import load_policy


def rollouts(policy, env, table, episodes: int, operator=None, seed: int = 20_000) -> tuple[float, float]:
    """(success rate, corrections per episode) of `policy` in the instructed, chunked `env`."""
    key, successes, said = jax.random.PRNGKey(seed), [], 0
    for episode in range(episodes):
        obs, info = env.reset(seed=seed + episode)
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
    return float(np.mean(successes)), said / episodes


def main(
    demos: int = 60,
    bc_steps: int = 8000,
    episodes: int = 20,
    folder: Path = Path("runs/language"),
    practice: float = 0.0,
) -> dict:
    """`practice`: the rate per step of random fine corrections in the demos (--practice)."""
    folder.mkdir(parents=True, exist_ok=True)
    table = EmbeddingTable.open(folder / "instructions.npz")
    summary = record_instructed(
        "PackCubes-v0", demos, folder / "demos", table, aim_error=0.02, practice=practice
    )
    print(f"demos: {summary.successes}/{summary.episodes} successes, {summary.corrections} corrected steps")

    # the high level, trained on 80% of the demos, measured on the rest
    config = InstructorConfig(steps=1500)
    episodes_data = read_episodes(summary.path)
    cut = max(1, int(0.8 * len(episodes_data)))
    vectors = table.embed_all(list(INSTRUCTIONS))
    instructor = train_instructor(instructor_examples(episodes_data[:cut], config), vectors, config)
    held_out = instructor_examples(episodes_data[cut:] or episodes_data, config)
    accuracy = instructor.accuracy(held_out, vectors)
    print(f"instructor: held-out accuracy {accuracy:.1%}")

    def instructed():
        chooser = instructor.chooser(list(INSTRUCTIONS), vectors)
        return Instructed(make("PackCubes-v0"), table, chooser, known=INSTRUCTIONS)

    # the low level: flow BC on chunks of 4 steps, conditioned on the instruction's embedding
    flow = FLOW_PRESETS["cpu"]
    make_env = lambda: chunked(instructed(), flow.chunk, flow.discount)  # noqa: E731
    pretrain_flow_bc(
        "robokit/PackCubes-v0", make_env, lambda _: summary.path, folder / "low-level", flow,
        steps=bc_steps, eval_every=bc_steps, eval_episodes=max(1, episodes // 4),
    )  # fmt: skip
    policy = load_policy(folder / "low-level")
    env = policy.wrap_env(instructed())
    task = env.unwrapped.task
    # the operator watches once per chunk (4 steps): 3 watches is a 1.2 s reaction, 5 a 2 s gap
    operator = SimulatedOperator(
        task, lambda text: None, OperatorConfig(reaction_steps=3, min_gap_steps=5, stuck_steps=8)
    )
    alone, _ = rollouts(policy, env, table, episodes)
    live, per_episode = rollouts(policy, env, table, episodes, operator)
    print(
        f"hierarchy alone: {alone:.0%}; corrected live: {live:.0%} ({per_episode:.1f} corrections an episode)"
    )
    env.close()
    return {"demo_successes": summary.successes, "accuracy": accuracy, "alone": alone, "live": live}


if __name__ == "__main__":
    main()
