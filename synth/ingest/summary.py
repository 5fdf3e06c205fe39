"""What ingest removed and recognised, for the build report: transport parameters dropped (per
reason, with examples) and paging/ordering roles found."""

from __future__ import annotations

from collections import Counter
from typing import Any

from synth.tooldef import ToolDef

EXAMPLES_PER_REASON = 5


def ingest_summary(tools: list[ToolDef]) -> dict[str, Any]:
    """`{"parameters_dropped": n, "dropped_by_reason": {reason: {"count", "examples"}},
    "tools_with_dropped": n, "param_roles": {role: n}, "tools_with_roles": n, "responses_from_examples": n}`."""
    by_reason: dict[str, dict[str, Any]] = {}
    roles: Counter[str] = Counter()
    for tool in tools:
        for param, reason in tool.dropped_params.items():
            entry = by_reason.setdefault(reason, {"count": 0, "examples": []})
            entry["count"] += 1
            example = {"tool": tool.name, "api": tool.api, "parameter": param}
            if len(entry["examples"]) < EXAMPLES_PER_REASON and example not in entry["examples"]:
                entry["examples"].append(example)
        roles.update(tool.param_roles.values())
    return {
        "parameters_dropped": sum(entry["count"] for entry in by_reason.values()),
        "dropped_by_reason": dict(sorted(by_reason.items(), key=lambda kv: (-kv[1]["count"], kv[0]))),
        "tools_with_dropped": sum(1 for tool in tools if tool.dropped_params),
        "param_roles": dict(sorted(roles.items(), key=lambda kv: (-kv[1], kv[0]))),
        "tools_with_roles": sum(1 for tool in tools if tool.param_roles),
        "responses_from_examples": sum(1 for tool in tools if tool.returns_from_example),
    }
