"""The settings of a collection run as plain data: how the engine runs (`EngineConfig`) and who
plays the agent and the user (`PolicySettings`). `envhub collect` takes its defaults from these
dataclasses, and both travel to Ray workers as dicts. No heavy imports: the CLI reads them at start.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.tool_budget import BudgetSettings


@dataclass(frozen=True)
class EngineConfig:
    """How the collection engine runs: where, how many episodes in flight, limits and retries."""

    url: str
    is_hub: bool = True
    token: str | None = None
    concurrency: int = 32
    max_turns: int = 30
    call_timeout: float = 30.0
    episode_timeout: float = 600.0
    retries: int = 3
    mcp_client: str = "sdk"
    # Connections per httpx2 client; the pool is split over several clients because httpx's pool
    # scans every connection on each request (O(pool) per request, see BENCHMARKS.md, "agent: collection throughput").
    # 0 = one client for the whole pool.
    connections_per_client: int = 16
    # Seconds of nothing but connection failures after which the run stops (None/0: never).
    max_outage: float | None = 30.0
    # The context budget applied to every episode's tools (contracts/tool_budget.py); None: all tools.
    # A Ray worker receives it as a dict (BudgetSettings.coerce reads either).
    tool_budget: BudgetSettings | dict | None = None


@dataclass(frozen=True)
class PolicySettings:
    """Who plays the agent and who plays the user in a collection run (`envhub collect` takes
    its defaults from here). Plain data: it travels to Ray workers as a dict."""

    # "scripted" (a seeded dialogue built from the task: docs/collect.md), "openai" (an OpenAI-compatible endpoint) or "local"
    # (a Hugging Face model folder, optionally with a LoRA adapter).
    policy: str = "scripted"
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    model_dir: str | None = None
    adapter: str | None = None
    # The prompt template of a local model (e.g. the one its adapter was trained with).
    chat_template: str | None = None
    # Simulated model latency per turn of the scripted policy, seconds (benchmarks).
    scripted_latency: float = 0.0
    # The scripted agent: "dialogue" (asks, confirms, recovers), "replay" (the gold calls after one
    # turn) or "careless" (breaks rules: its episodes must fail the filters); its wording/mistake seed
    # and the share of dialogues with one rejected call that is then repaired.
    scripted_mode: str = "dialogue"
    scripted_seed: int = 0
    scripted_mistake_rate: float = 0.25
    # "scripted" (states the task's facts) or "llm" (an OpenAI-compatible endpoint).
    user: str = "scripted"
    user_base_url: str | None = None
    user_model: str | None = None
    user_api_key: str | None = None
    user_temperature: float | None = None
    # The scripted user's identifying facts: "ask" (given when the agent asks) or "upfront" (all in
    # its opening message; recorded in each trajectory as `user`).
    user_disclosure: str = "ask"
