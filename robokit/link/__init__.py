"""The actor <-> learner link: the interfaces, and the in-process backend (zmq next)."""

from robokit.link.base import STREAMS, ActorLink, LearnerLink
from robokit.link.inprocess import InProcessLink

__all__ = ["STREAMS", "ActorLink", "InProcessLink", "LearnerLink"]
