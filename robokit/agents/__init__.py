"""Agents: pure JAX functions over a state pytree (init, update, act, policy_params)."""
