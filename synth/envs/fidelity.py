"""Counting rules for how right a build is, read from the environment files alone.

The same rules measure any build (this code's, or an older one's env files), so a before/after
comparison counts the same things:

- **write-named inserts**: a tool whose name says it changes or removes something (the first verb
  word of its name, `name_verb`, is in UPDATE_WORDS or DELETE_WORDS) but whose operation only inserts rows (an `insert`, or a
  `sequence` / `program` whose only writes are inserts).
- **state-change-named inserts**: the same for a tool named as a state change (`CancelJob`,
  `TerminateInstances`, `suspend_line`) that only inserts a row instead of changing one.
- **verb-named tables**: a table whose name starts with an operation verb (`get_change_tokens`,
  `delete_xss_match_sets`) or ends with one (`projects_jobs_gets`), or that is a verb-led tool's
  name run together (`canceljobs` for `CancelJob`, `describejobqueues` for `DescribeJobQueues`):
  one table per operation, not per resource. Without the run-together rule the count misses
  every table of an API whose paths are `/v1/canceljob`. A first or last word that is also a
  noun does not count when the environment's own tools use it so: it stands in the object of
  another tool's verb (`patch` in `DescribePatchBaselines`, `lists` in `getListsByIdList`,
  `list` in `createContactList`) and leads no tool's name (no `PatchX`, no `ListX`). So
  `patch_baselines` beside `DescribePatchBaselines` is a resource, while `get_change_tokens`
  beside `GetChangeToken` still counts: its `get` leads a tool.
- **environments without a dependency edge**: no tool's output feeds another tool's key argument,
  so no multi-step task can be drawn from it. Joining such a piece into a sibling would lower
  this count without giving one tool an edge, so the share of **tools on no edge** is counted
  too.
"""

from __future__ import annotations

from typing import Any

from synth.envs.names import singular, split_words

UPDATE_WORDS = frozenset({"update", "patch", "modify", "edit"})
# Verbs that change a record's state in place: an insert is never what they do.
# `start`, `stop`, `restore` and `close` are left out: `StartQueryExecution` and
# `RestoreFromClusterSnapshot` rightly insert a new record.
STATE_WORDS = frozenset({"cancel", "terminate", "suspend", "resume", "activate", "deactivate", "enable", "disable",
                         "approve", "reject", "archive", "unarchive", "pause", "unpause", "lock", "unlock", "revoke"})
DELETE_WORDS = frozenset({"delete", "remove", "destroy"})
# A table name's first word in this set names an operation, never a resource.
LEADING_VERBS = frozenset({
    "get", "list", "create", "update", "delete", "remove", "describe", "put", "patch", "search", "find",
    "fetch", "retrieve", "add", "modify", "insert", "upsert", "cancel", "enable", "disable", "reset",
    "generate", "validate", "execute",
})
# Its last word (singular) in this set: rarer, since many verbs are also nouns (`lists`, `updates`).
TRAILING_VERBS = frozenset({"get", "create", "delete", "describe", "patch", "put", "fetch", "retrieve", "insert",
                            "remove"})


def _kinds_written(op: dict[str, Any]) -> set[str]:
    kind = op.get("kind")
    if kind in ("insert", "update", "delete"):
        return {kind}
    if kind == "sequence":
        out: set[str] = set()
        for step in op.get("steps") or []:
            out |= _kinds_written(step.get("op") or {})
        return out
    if kind == "program":
        import re

        out = set()

        def walk(steps: Any) -> None:
            for step in steps if isinstance(steps, list) else []:
                if not isinstance(step, dict):
                    continue
                sql = step.get("exec")
                if isinstance(sql, str):
                    m = re.match(r"\s*(insert|update|delete)\b", sql, re.I)
                    if m:
                        out.add(m.group(1).lower())
                for sub in ("then", "else", "steps"):
                    walk(step.get(sub))

        walk(op.get("steps"))
        return out
    return set()


_NAME_VERBS = LEADING_VERBS | UPDATE_WORDS | DELETE_WORDS | STATE_WORDS | {"create", "insert", "add", "register",
                                                                           "set", "put"}
# A tool name led by one of these names an operation; its words run together are no resource.
_OPERATION_VERBS = _NAME_VERBS | {"submit", "deregister", "run", "send", "request", "check", "query"}


def name_verb(name: str) -> str | None:
    """The verb a tool's name states: its first verb word (`adexchangebuyer_proposals_patch` ->
    patch, `CreateOrUpdateX` -> create, `RegisterPatchBaseline` -> register)."""
    return next((w for w in split_words(name) if w in _NAME_VERBS), None)


def write_named_inserts(spec: dict[str, Any]) -> dict[str, list[str]]:
    """{"update": [tool...], "delete": [tool...]}: tools named as updates/deletes that only insert."""
    out: dict[str, list[str]] = {"update": [], "delete": [], "state": []}
    for tool in spec.get("tools") or []:
        if _kinds_written(tool.get("operation") or {}) != {"insert"}:
            continue
        verb = name_verb(tool["name"])
        if verb in UPDATE_WORDS:
            out["update"].append(tool["name"])
        elif verb in DELETE_WORDS:
            out["delete"].append(tool["name"])
        elif verb in STATE_WORDS:
            out["state"].append(tool["name"])
    return out


def _run_together(words: list[str]) -> str:
    return singular("".join(words))


_OBJECT_STOP = frozenset({"by", "for", "from", "in", "of", "with", "to", "on", "using", "via", "at", "and", "or"})


def noun_words(tool_names: list[str] | tuple[str, ...]) -> frozenset[str]:
    """Words (singular) the tools use as nouns: each stands in the object of a tool name led by
    an operation verb (the words after the verb, up to a preposition) and leads no tool name."""
    objects: set[str] = set()
    leading: set[str] = set()
    for name in tool_names:
        words = split_words(name)
        if not words:
            continue
        leading.add(singular(words[0]))
        if words[0] not in _OPERATION_VERBS:
            continue
        for word in words[1:]:
            if word in _OBJECT_STOP:
                break
            objects.add(singular(word))
    return frozenset(objects - leading)


def is_verb_named(table_name: str, tool_names: list[str] | tuple[str, ...] = (),
                  nouns: frozenset[str] | None = None) -> bool:
    """Whether a table is named after an operation rather than a resource (module docstring);
    `tool_names` (the environment's tools) lets run-together names be caught and tells which
    verb-like words the environment uses as nouns (`noun_words`; pass `nouns` to reuse it)."""
    words = table_name.split("_")
    if nouns is None:
        nouns = noun_words(tool_names)
    if words and (words[0] in LEADING_VERBS and singular(words[0]) not in nouns
                  or singular(words[-1]) in TRAILING_VERBS and singular(words[-1]) not in nouns):
        return True
    compact = _run_together(words)
    for name in tool_names:
        tool_words = split_words(name)
        if len(tool_words) >= 2 and tool_words[0] in _OPERATION_VERBS and _run_together(tool_words) == compact:
            return True
    return False


def verb_named_tables(spec: dict[str, Any]) -> list[str]:
    tool_names = [t["name"] for t in spec.get("tools") or []]
    nouns = noun_words(tool_names)
    return [t["name"] for t in spec.get("tables") or [] if is_verb_named(t["name"], tool_names, nouns)]


def build_counts(specs: list[dict[str, Any]], lent: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The static fidelity counts over every environment of a build. `lent`: env name -> tools
    lent to it from a sibling piece (report.json `environments[].lent`); the tool counts cover
    each environment's own tools only, so a lent copy is neither counted twice nor as an edge
    of its own."""
    lent = lent or {}
    update_inserts = delete_inserts = state_inserts = verb_tables = tables = no_edge = tools = edgeless_tools = 0
    examples: dict[str, list[str]] = {"update_inserts": [], "delete_inserts": [], "state_inserts": [],
                                      "verb_tables": [], "no_edge": []}
    for spec in specs:
        named = write_named_inserts(spec)
        update_inserts += len(named["update"])
        delete_inserts += len(named["delete"])
        state_inserts += len(named["state"])
        verbs = verb_named_tables(spec)
        verb_tables += len(verbs)
        tables += len(spec.get("tables") or [])
        linked = {end for dep in spec.get("dependencies") or [] for end in (dep["source"], dep["target"])}
        borrowed = set(lent.get(spec["name"], ()))
        own = [t for t in spec.get("tools") or [] if t["name"] not in borrowed]
        tools += len(own)
        edgeless_tools += sum(1 for t in own if t["name"] not in linked)
        if not spec.get("dependencies"):
            no_edge += 1
            examples["no_edge"].append(spec["name"])
        examples["update_inserts"] += [f"{spec['name']}:{t}" for t in named["update"]]
        examples["delete_inserts"] += [f"{spec['name']}:{t}" for t in named["delete"]]
        examples["state_inserts"] += [f"{spec['name']}:{t}" for t in named["state"]]
        examples["verb_tables"] += [f"{spec['name']}:{t}" for t in verbs]
    return {
        "environments": len(specs),
        "update_named_inserts": update_inserts,
        "delete_named_inserts": delete_inserts,
        "state_change_named_inserts": state_inserts,
        "tables": tables,
        "verb_named_tables": verb_tables,
        "environments_without_dependency": no_edge,
        "tools": tools,
        "tools_without_dependency": edgeless_tools,
        "examples": {k: v[:8] for k, v in examples.items()},
    }
