"""envhub servers: EnvSpec environments served as MCP servers with isolated per-episode SQLite state.

- `servers.spec`: the EnvSpec model and loader.
- `servers.seedgen`: deterministic seed rows that agree with themselves; `servers.seedvalues` (a
  column's semantic kind and its values), `servers.seedrules` (relations between values and the
  consistency pass), `servers.seeddata` (the vocabulary).
- `servers.state`: templates, episodes, the episode store and the canonical state hash.
- `servers.executor`: runs a tool call's declarative operation in one transaction.
- `servers.mcp_server`: an MCP `Server` for one environment.
- `servers.stdio`: one episode over stdio (`python -m servers.stdio SPEC.json`).
- `servers.examples`: hand-written example environments.
"""

from servers.spec import EnvSpec, SpecError, load_envspec, parse_envspec

__all__ = ["EnvSpec", "SpecError", "load_envspec", "parse_envspec"]
