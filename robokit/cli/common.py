"""What several verbs share: new output folders, and the simulated env factory."""

from __future__ import annotations

from pathlib import Path


def check_reward_classifier(robot_config: Path | None, reward_classifier: Path | None) -> None:
    """--reward-classifier is for simulated tasks; a real robot's classifier is named in its YAML."""
    if robot_config is not None and reward_classifier is not None:
        raise ValueError(
            "on the real robot the classifier belongs in the config: task: {name: classifier, "
            "classifier: DIR}; drop --reward-classifier."
        )


def reward_source(robot_config: Path | None, reward_classifier: Path | None) -> str:
    """How episodes are rewarded, as the link's handshake compares it: "simulator", or the
    fingerprint of the classifier (--reward-classifier, or the real robot config's task)."""
    from robokit.rewards.classifier import RewardClassifier

    if robot_config is not None:
        from robokit.envs.real import load_config

        classifier = load_config(robot_config)["task"].get("classifier")
        return "robot task" if classifier is None else RewardClassifier.fingerprint(classifier)
    return "simulator" if reward_classifier is None else RewardClassifier.fingerprint(reward_classifier)


def frames_source(encoder: Path | None) -> str:
    """What the policy reads of the cameras, as the link's handshake compares it: "raw frames", or
    the fingerprint of the pretrained encoder (--encoder) that turns them into embeddings."""
    if encoder is None:
        return "raw frames"
    from robokit.agents.pose_encoder import PoseEncoder

    return PoseEncoder.fingerprint(encoder)


def new_folder(base: Path) -> Path:
    """`base`, or `base-2`, `base-3`... whichever does not exist yet."""
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def sim_options(looks: str | None = None, cameras_like: Path | None = None) -> dict:
    """make()'s keywords for the --looks ("none", "train", "held_out") and --cameras-like options."""
    options = {} if looks in (None, "none") else {"looks": looks}
    return options | ({} if cameras_like is None else {"cameras_like": str(cameras_like)})


def sim_env_factory(
    env_id: str,
    reward_classifier: Path | None,
    instructor: Path | None = None,
    encoder: Path | None = None,
    options: dict | None = None,
):
    """Makes the simulated env, rewarded by the simulator or by a reward classifier, instructed by a
    saved instructor (robokit.language.instructor.instructing) and its frames encoded by a
    pretrained encoder (robokit.agents.pose_encoder) when they are named; `options` are make()'s
    (sim_options: visual randomisation, cameras framed like a robot.yaml's)."""
    if encoder is not None:
        from robokit.agents.pose_encoder import Encoded, PoseEncoder

        loaded = PoseEncoder.load(encoder)  # a wrong folder: one sentence, before any work
        plain = sim_env_factory(env_id, reward_classifier, instructor, options=options)
        return lambda: Encoded(plain(), loaded)
    from robokit.envs.registration import make

    kwargs = options or {}
    if reward_classifier is None:
        make_env = lambda: make(env_id, **kwargs)  # noqa: E731
    else:
        from robokit.envs.rewarded import make_classifier_rewarded
        from robokit.rewards.classifier import RewardClassifier

        classifier = RewardClassifier.load(reward_classifier)  # a missing file: one sentence, at once
        make_env = lambda: make_classifier_rewarded(env_id, classifier, **kwargs)  # noqa: E731
    if instructor is None:
        return make_env
    from robokit.language.instructor import instructing

    instructed = instructing(instructor)  # loaded once; a wrong folder: one sentence, before any work
    instructed(make(env_id)).close()  # another task's instructor: the same
    return lambda: instructed(make_env())
