"""An env whose observations carry the instruction in force, as an embedding: `obs["instruction"]`.

    env = Instructed(make_env(), table, instructor="pick up the cube")     # one instruction
    env = Instructed(make_env(), table, instructor=high_level, known=VOCABULARY)
    obs, nearest, cosine = env.correct(obs, "move a bit to the left", embedding, steps=20)

The instruction is the instructor's (a fixed text, or a callable that picks one of `known` from the
observation, such as the high-level policy) unless an operator's correction is in force: it then
replaces the instructor's for `steps` control steps, after which the instructor takes over again
(YAY Robot's run-time loop). A shorter correction said while a longer one is in force interrupts
it ("pick up the red cube", then "move a bit to the left" on the way): the longer one resumes with
the steps it had left when the shorter lapses, as the operator who said both means.

The embedding is an observation entry like any other, so the spec, the link, the replay buffer and
checkpoints carry it without special cases. Every known instruction is embedded when the env is
made; a correction arrives embedded, so the encoder never runs in a step.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np

from robokit.language.encoder import EMBEDDING_DIM, EmbeddingTable

INSTRUCTION_KEY = "instruction"


class Instructed(gym.Wrapper):
    def __init__(
        self,
        env: gym.Env,
        table: EmbeddingTable,
        instructor: str | Callable[[dict], str],
        known: tuple[str, ...] = (),
    ):
        super().__init__(env)
        self.table, self.instructor = table, instructor
        self.known = list(dict.fromkeys([*known, *([instructor] if isinstance(instructor, str) else [])]))
        if not self.known:
            raise ValueError("an instructed env needs its known instructions (known=...)")
        table.embed_all(self.known)
        spaces = dict(env.observation_space.spaces)
        spaces[INSTRUCTION_KEY] = gym.spaces.Box(-1.0, 1.0, (EMBEDDING_DIM,), np.float32)
        self.observation_space = gym.spaces.Dict(spaces)
        self.correction: list | None = None  # [text, embedding, steps left, practice]
        self.interrupted: list | None = None  # a longer correction, resumed when this one lapses

    def reset(self, *, seed=None, options=None):
        self.correction = self.interrupted = None
        if hasattr(self.instructor, "reset"):  # one that keeps a history of the episode
            self.instructor.reset()
        obs, info = self.env.reset(seed=seed, options=options)
        return self._instructed(obs, info)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self.correction is not None:
            self.correction[2] -= 1
            if self.correction[2] <= 0:  # it lapsed: the one it interrupted, or the instructor
                self.correction, self.interrupted = self.interrupted, None
        obs, info = self._instructed(obs, info)
        return obs, reward, terminated, truncated, info

    def correct(
        self, obs: dict, text: str, embedding: np.ndarray, steps: int, practice: bool = False
    ) -> tuple[dict, str, float]:
        """Run `text` (embedded as `embedding`) for the next `steps` steps, starting with `obs`, the
        observation the policy is about to act on; returns it with the new instruction, and the
        known instruction nearest the correction (with the cosine). A `practice` correction is said
        at random while demos are recorded, to teach the low level to follow it: infos flag its
        steps, and the instructor does not learn to say it there."""
        longer = self.correction is not None and self.correction[2] > steps
        self.interrupted = self.correction if longer else None
        self.correction = [text, np.asarray(embedding, np.float32), int(steps), bool(practice)]
        nearest, cosine = self.table.nearest(self.correction[1], self.known)
        return {**obs, INSTRUCTION_KEY: self.correction[1]}, nearest, cosine

    def current_instruction(self, obs: dict) -> tuple[str, np.ndarray]:
        if self.correction is not None:
            return self.correction[0], self.correction[1]
        text = self.instructor if isinstance(self.instructor, str) else self.instructor(obs)
        if text not in self.table:
            raise ValueError(
                f"the instructor chose {text!r}, which is not among the env's known instructions"
            )
        return text, self.table.embed(text)

    def instruction_info(self, text: str) -> dict:
        """What a step's info says of the instruction its observation carries: the text, its index
        among the known ones (-1: a phrase of its own), whether an operator's correction is in force
        and whether that is a practice one."""
        known = self.known.index(text) if text in self.known else -1
        corrected = self.correction is not None
        practice = corrected and self.correction[3]
        return {INSTRUCTION_KEY: text, "instruction_id": known, "corrected": corrected, "practice": practice}

    def _instructed(self, obs: dict, info: dict) -> tuple[dict, dict]:
        text, vector = self.current_instruction(obs)
        return {**obs, INSTRUCTION_KEY: vector}, {**info, **self.instruction_info(text)}
