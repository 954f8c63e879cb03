"""The actor and learner loops, actors built in-process from options, the local fleet, evaluation."""
