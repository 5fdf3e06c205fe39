"""Trajectory collection: policies and simulated users talk to environments over MCP only.

Of envhub, only `contracts` is imported (no `hub`, `servers` or `synth`): the agent reads TaskSpec
JSONL, speaks MCP and the hub's REST API over HTTP, and writes Trajectory JSONL, both through the
`contracts` models (docs/CONTRACTS.md).
"""
