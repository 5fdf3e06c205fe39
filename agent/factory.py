"""Build policies and simulated users from plain settings (a dict), so a Ray worker can rebuild them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.policies.base import Policy
from agent.user import LLMUser, ScriptedUser, SimulatedUser


def build_policy(settings: dict[str, Any]) -> Policy:
    kind = settings.get("policy", "scripted")
    if kind == "scripted":
        from agent.policies.scripted import ScriptedPolicy

        mistake_rate = settings.get("scripted_mistake_rate")
        return ScriptedPolicy(latency=float(settings.get("scripted_latency") or 0.0),
                              mode=settings.get("scripted_mode") or "dialogue",
                              seed=int(settings.get("scripted_seed") or 0),
                              mistake_rate=0.25 if mistake_rate is None else float(mistake_rate))
    if kind == "openai":
        from agent.policies.openai_policy import OpenAIPolicy

        if not settings.get("model"):
            raise ValueError("--policy openai needs --model (the model name the endpoint serves)")
        return OpenAIPolicy(settings["model"], settings.get("base_url"), settings.get("api_key"),
                            settings.get("temperature"), settings.get("max_tokens"))
    if kind == "local":
        from agent.policies.local_hf import LocalHFPolicy

        if not settings.get("model_dir"):
            raise ValueError("--policy local needs --model-dir (a Hugging Face model folder)")
        return LocalHFPolicy(settings["model_dir"], settings.get("adapter"), settings.get("temperature"),
                             settings.get("max_tokens"), chat_template=settings.get("chat_template"))
    raise ValueError(f"unknown policy {kind!r} (expected scripted, openai or local)")


def build_user_factory(settings: dict[str, Any]) -> Callable[[], SimulatedUser]:
    kind = settings.get("user", "scripted")
    if kind == "scripted":
        return ScriptedUser
    if kind == "llm":
        import openai

        model = settings.get("user_model") or settings.get("model")
        if not model:
            raise ValueError("--user llm needs --user-model (or --model)")
        client = openai.AsyncOpenAI(base_url=settings.get("user_base_url") or settings.get("base_url"),
                                    api_key=settings.get("user_api_key") or settings.get("api_key") or "EMPTY",
                                    max_retries=0)
        return lambda: LLMUser(client, model, settings.get("user_temperature"))
    raise ValueError(f"unknown user {kind!r} (expected scripted or llm)")
