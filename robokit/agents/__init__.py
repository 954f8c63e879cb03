"""Agents: the Agent protocol and registry (base.py), shared networks, one folder per algorithm."""
