"""Agents: built-in agent definitions, custom agents (the Agents API) and resolution of
an ``agent`` name in an interaction into what the run loop needs."""
