"""Trajectory collection: policies and simulated users talk to environments over MCP only.

Nothing here imports `hub` or `servers`; the agent reads TaskSpec JSONL, speaks MCP and the hub's
REST API over HTTP, and writes Trajectory JSONL (docs/CONTRACTS.md).
"""
