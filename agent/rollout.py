"""One episode: open an episode on the hub, let the policy and the simulated user talk through MCP
tools, hash the final state, run the filters and return the `contracts.Trajectory`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2

from agent.filters import apply_filters, parse_arguments, passed
from agent.hubclient import HubClient
from agent.mcpclient import ToolCallError, mcp_tool_to_openai, open_connection
from agent.policies.base import Policy
from agent.toolkinds import is_read
from agent.user import SimulatedUser
from contracts import TaskSpec, Tool, Trajectory
from contracts.tool_budget import BudgetResult, BudgetSettings, apply_tool_budget, estimate_counter

SYSTEM_PROMPT = (
    "You are a customer-support agent for the '{env}' service. Help the user by calling the "
    "available tools; do not guess values you can look up or ask the user for. Make only the "
    "changes the user asks for. When you are finished, tell the user the outcome, including any "
    "values they asked about."
)


@dataclass(frozen=True)
class Target:
    """Where episodes run: an envhub hub (REST + per-episode MCP URLs) or one plain MCP server."""

    http: httpx2.AsyncClient
    hub: HubClient | None = None
    mcp_url: str | None = None
    mcp_client: str = "sdk"
    # env -> its tools, filled by the first episode of each env (hub targets only): a hub serves
    # every episode of an environment the same tools, so one tools/list per run will do.
    tool_lists: dict[str, EpisodeTools] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    max_turns: int = 30
    call_timeout: float = 30.0
    # The context budget: None shows every tool unchanged (and records no `tool_budget`).
    tool_budget: BudgetSettings | None = None


@dataclass(frozen=True)
class EpisodeTools:
    """An episode's tools in OpenAI form for the policy, and as the contract's Tool records."""

    openai: list[dict[str, Any]]
    # Validated once per environment rather than once per trajectory: a tool list is most of a
    # trajectory's fields, and pydantic does not revalidate model instances.
    records: list[Tool]
    # The tools the server marks `readOnlyHint: true`; None when it gives no hints at all (the
    # filters then judge a tool by its name's verb: agent.toolkinds).
    read_only: frozenset[str] | None = None

    @classmethod
    def from_mcp(cls, tools: list[dict[str, Any]]) -> EpisodeTools:
        openai = [mcp_tool_to_openai(t) for t in tools]
        hints = [(t["name"], (t.get("annotations") or {}).get("readOnlyHint")) for t in tools]
        read_only = (frozenset(name for name, hint in hints if hint is True)
                     if any(hint is not None for _, hint in hints) else None)
        return cls(openai, [Tool.model_validate(t) for t in openai], read_only)

    def is_read(self, name: str) -> bool:
        """Whether a call of `name` only reads: the server's word when it gave one."""
        return name in self.read_only if self.read_only is not None else is_read(name)


async def _episode_tools(env: str, conn: Any, target: Target) -> EpisodeTools:
    if target.hub is None:  # a plain MCP server may serve different tools per session
        return EpisodeTools.from_mcp(await conn.list_tools())
    tools = target.tool_lists.get(env)
    if tools is None:
        tools = target.tool_lists[env] = EpisodeTools.from_mcp(await conn.list_tools())
    # The policy gets a list of its own: nothing it does to it reaches the next episode.
    return EpisodeTools(list(tools.openai), tools.records, tools.read_only)


def budget_episode_tools(tools: list[dict[str, Any]], opening: str, task: TaskSpec, settings: BudgetSettings,
                         policy: Policy) -> BudgetResult:
    """The tools the policy is shown: the context-budget rule on the environment's tools.

    Counted by the policy's tokenizer when it has one (a local model: the count the trainer
    makes), by the characters/3 estimate otherwise. The inputs are those the trainer reads back
    from the trajectory (trainer/data.py budget_trajectory_tools): the tools, the opening user
    message, the task id.
    """
    counter = getattr(policy, "tool_token_counter", None) or estimate_counter()
    return apply_tool_budget(tools, opening, task.task_id, settings, counter)


async def run_episode(task: TaskSpec, policy: Policy, user: SimulatedUser, target: Target, limits: Limits,
                      attempt: int = 1) -> Trajectory:
    started = time.perf_counter()
    episode_id = None
    if target.hub is not None:
        # task_id stays null: a hub only accepts ids of tasks it loaded itself, and the initial
        # state is fully described by the seed.
        episode = await target.hub.create_episode(task.env, task.initial_state.seed, None)
        episode_id, url = episode.episode_id, episode.mcp_url
    else:
        url = target.mcp_url or ""
    try:
        async with open_connection(target.mcp_client, url, target.http, limits.call_timeout) as conn:
            episode_tools = await _episode_tools(task.env, conn, target)
            tools = episode_tools.openai
            opening = await user.opening(task)
            budget = None
            if limits.tool_budget is not None:
                budget = budget_episode_tools(tools, opening, task, limits.tool_budget, policy)
                # A dropped tool is unknown to this episode: calling it is answered as an unknown tool.
                tools = budget.tools
                episode_tools = EpisodeTools(tools, [Tool.model_validate(t) for t in tools], episode_tools.read_only)
            tool_names = {t["function"]["name"] for t in tools}
            messages: list[dict[str, Any]] = [
                {"role": "system", "content": SYSTEM_PROMPT.format(env=task.env)},
                {"role": "user", "content": opening},
            ]
            usage = {"prompt_tokens": 0, "completion_tokens": 0}
            turns = tool_calls = 0
            used_ids: set[str] = set()
            while turns < limits.max_turns:
                turn = await policy.act(messages, tools, task)
                turns += 1
                for key in usage:
                    usage[key] += turn.usage.get(key, 0)
                message = turn.message
                calls = message.get("tool_calls") or []
                for call in calls:
                    # Local models number their calls per message; ids must be unique per episode.
                    if not call.get("id") or call["id"] in used_ids:
                        call["id"] = f"call_{len(used_ids)}"
                    used_ids.add(call["id"])
                messages.append(message)
                if calls:
                    for call in calls:
                        tool_calls += 1
                        content = await _execute(conn, call, tool_names, target, episode_id)
                        messages.append({"role": "tool", "tool_call_id": call["id"], "content": content})
                    continue
                text, done = await user.reply(task, messages)
                if done:
                    break
                messages.append({"role": "user", "content": text})
        final_hash = await target.hub.state_hash(episode_id) if target.hub is not None and episode_id else None
    finally:
        if target.hub is not None and episode_id:
            await asyncio.shield(target.hub.close_episode(episode_id))
    filters, problem = apply_filters(task, messages, tool_names, final_hash, reads=episode_tools.is_read)
    ok = passed(filters)
    return Trajectory.model_validate({
        "task_id": task.task_id,
        "env": task.env,
        "messages": messages,
        "tools": episode_tools.records,
        "policy": {"kind": policy.kind, "model": policy.model},
        "filters": filters,
        "passed": ok,
        "reward": 1.0 if ok else 0.0,
        "final_state_hash": final_hash,
        "gold_state_hash": task.gold_state_hash,
        "timing": {"seconds": round(time.perf_counter() - started, 4), "turns": turns, "tool_calls": tool_calls},
        "usage": usage,
        "error": None,
        "rejected_because": None if ok else _rejection(filters, problem),
        "attempts": attempt,
        "tool_budget": budget.record if budget is not None else None,
        **_user_record(user),
    })


def _user_record(user: SimulatedUser) -> dict[str, Any]:
    """`user` in the trajectory when the simulated user ran with a non-default setting."""
    record = getattr(user, "record", None)
    value = record() if callable(record) else None
    return {"user": value} if value else {}


async def _execute(conn: Any, call: dict[str, Any], tool_names: set[str], target: Target,
                   episode_id: str | None) -> str:
    """Run one tool call; problems the model caused come back to it as an error message."""
    name = call["function"]["name"]
    arguments = parse_arguments(call["function"].get("arguments"))
    if name not in tool_names:
        return f"Error: unknown tool {name!r}. Available tools: {', '.join(sorted(tool_names))}."
    if arguments is None:
        return f"Error: the arguments of {name!r} are not a JSON object: {call['function'].get('arguments')!r}"
    try:
        result = await conn.call_tool(name, arguments)
    except ToolCallError as err:
        if target.hub is not None and episode_id:
            # A protocol error may mean the hub lost the episode; this raises EpisodeGoneError if so.
            await target.hub.state_hash(episode_id)
        return f"Error: {err}"
    # Marked like the errors above, so the model and the filters tell a rejected call from a result.
    return f"Error: {result.text}" if result.is_error else result.text


def _rejection(filters: dict[str, bool | None], problem: str | None) -> str:
    failed = [name for name, value in filters.items() if value is False]
    if problem:
        return f"valid: {problem}" + (f"; also failed: {', '.join(failed[1:])}" if len(failed) > 1 else "")
    return "failed: " + ", ".join(failed)


def error_trajectory(task: TaskSpec, policy: Policy, error: str, seconds: float, attempts: int) -> Trajectory:
    """The record of an episode that could not be completed (still written, so it is reported)."""
    return Trajectory.model_validate({
        "task_id": task.task_id, "env": task.env,
        "messages": [], "tools": [],
        "policy": {"kind": policy.kind, "model": policy.model},
        "filters": {"valid": False, "state_match": None, "exact_match": None, "outputs": None},
        "passed": False, "reward": 0.0, "final_state_hash": None, "gold_state_hash": task.gold_state_hash,
        "timing": {"seconds": round(seconds, 4), "turns": 0, "tool_calls": 0},
        "usage": {"prompt_tokens": 0, "completion_tokens": 0},
        "error": error, "rejected_because": f"error: {error}", "attempts": attempts,
    })
