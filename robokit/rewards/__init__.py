"""Rewards without a simulator: reward and reset classifiers, their env wrapper, checked successes."""
