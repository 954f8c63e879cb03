"""The actor <-> learner link: the interfaces, the in-process backend, and the zmq backend
(robokit.link.zmq, imported on demand so that in-process use does not load pyzmq)."""

from robokit.link.base import STREAMS, ActorLink, LearnerLink
from robokit.link.inprocess import InProcessLink

__all__ = ["STREAMS", "ActorLink", "InProcessLink", "LearnerLink"]
