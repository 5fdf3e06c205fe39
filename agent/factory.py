"""Build policies and simulated users from plain settings (`PolicySettings`), so a Ray worker can rebuild them."""

from __future__ import annotations

from collections.abc import Callable

from agent.policies.base import Policy
from agent.settings import PolicySettings
from agent.user import LLMUser, ScriptedUser, SimulatedUser


def build_policy(settings: PolicySettings) -> Policy:
    kind = settings.policy
    if kind == "scripted":
        from agent.policies.scripted import ScriptedPolicy

        return ScriptedPolicy(latency=float(settings.scripted_latency or 0.0), mode=settings.scripted_mode,
                              seed=settings.scripted_seed, mistake_rate=settings.scripted_mistake_rate)
    if kind == "openai":
        from agent.policies.openai_policy import OpenAIPolicy

        if not settings.model:
            raise ValueError("--policy openai needs --model (the model name the endpoint serves)")
        return OpenAIPolicy(settings.model, settings.base_url, settings.api_key, settings.temperature,
                            settings.max_tokens)
    if kind == "local":
        from agent.policies.local_hf import LocalHFPolicy

        if not settings.model_dir:
            raise ValueError("--policy local needs --model-dir (a Hugging Face model folder)")
        return LocalHFPolicy(settings.model_dir, settings.adapter, settings.temperature, settings.max_tokens,
                             chat_template=settings.chat_template)
    raise ValueError(f"unknown policy {kind!r} (expected scripted, openai or local)")


def build_user_factory(settings: PolicySettings) -> Callable[[], SimulatedUser]:
    kind = settings.user
    if kind == "scripted":
        disclosure = settings.user_disclosure
        ScriptedUser(disclosure)  # a bad setting fails here, not in every episode
        return lambda: ScriptedUser(disclosure)
    if settings.user_disclosure != "ask":
        raise ValueError("--user-disclosure applies to the scripted user only")
    if kind == "llm":
        import openai

        model = settings.user_model or settings.model
        if not model:
            raise ValueError("--user llm needs --user-model (or --model)")
        client = openai.AsyncOpenAI(base_url=settings.user_base_url or settings.base_url,
                                    api_key=settings.user_api_key or settings.api_key or "EMPTY",
                                    max_retries=0)
        return lambda: LLMUser(client, model, settings.user_temperature)
    raise ValueError(f"unknown user {kind!r} (expected scripted or llm)")
