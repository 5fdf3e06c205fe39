"""Optional LLM refinement of a drafted environment through any OpenAI-compatible endpoint.

The model sees the domain's draft EnvSpec (without its seed rows) and the original tool docs
and answers with an improved EnvSpec in the same JSON. The answer must load
(`servers.spec.parse_envspec`) and pass the same quality gate with at least as many working
tools as the draft; otherwise the draft is kept and the report says why. Seed rows and
dependencies of an accepted answer are rebuilt by the synthesizer, so the model cannot break
referential integrity.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from servers.seedgen import generate_rows
from servers.spec import EnvSpec, SpecError, parse_envspec
from synth.envs.dependencies import derive_dependencies
from synth.envs.quality_gate import GateResult, run_gate
from synth.tooldef import ToolDef

if TYPE_CHECKING:
    from synth.envs.synthesize import LLMConfig

SYSTEM_PROMPT = """You improve executable tool-use environments for training AI agents.
You get an environment as EnvSpec JSON (format envhub.envspec/1) and the original API docs of its tools.
Return ONLY the improved EnvSpec as one JSON object, same format. You may: rename tables and columns to
what the API really calls them, add columns the docs mention (typed: string/integer/number/boolean/enum/date,
enums with their values, column "default"s such as status "pending"), add foreign keys, fix operations
(get/find/insert/update/delete/sequence with values {"arg"}, {"const"}, {"ref"}, {"op":"add|sub|mul"}), add
sensible preconditions, improve descriptions. A tool whose description states rules (who may do what, allowed
states, balances, side effects on other tables) gets {"kind":"program","steps":[...],"result":{...}} instead:
SQLite statements over the env's own tables with :argument parameters (lists arrive as JSON text: use
json_each(:ids)), :now/:today for time. Steps: {"let":NAME,"query":SELECT} binds :NAME to its first value;
{"require":SELECT,"message":"text with {argument} or {NAME}"} fails the call unless truthy; {"exec":INSERT|UPDATE|DELETE,
"expect_changes":1}; {"if":SELECT,"then":[...],"else":[...]}; {"for_each":SELECT,"as":"x","steps":[...]} binds
:x_<column>; {"fail":"message"}. Any failure rolls the whole call back. result: {"query":SELECT,
"shape":"json|row|rows|value"} (json: one json_object(...) value, nested lists via json_group_array).
New ids: envhub_next_id('O-', (SELECT json_group_array(order_id) FROM orders)).
Keep every tool's name and input_schema argument names. Do not include "seed" or "dependencies"."""

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def _tool_docs(tools: list[ToolDef]) -> list[dict[str, Any]]:
    return [
        {"name": t.name, "description": t.description[:600], "method": t.method, "path": t.path,
         "parameters": t.parameters, "returns": t.returns}
        for t in tools
    ]


def _extract_json(text: str) -> Any:
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("the answer holds no JSON object")
    return json.loads(text[start:end + 1])


def _ask(draft: EnvSpec, tools: list[ToolDef], llm: LLMConfig) -> str:
    from openai import OpenAI

    body = draft.model_dump(mode="json", by_alias=True, exclude={"seed", "dependencies"})
    client = OpenAI(base_url=llm.base_url, api_key=llm.api_key or "not-needed", timeout=llm.timeout, max_retries=1)
    reply = client.chat.completions.create(
        model=llm.model,
        temperature=0,
        messages=[
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": "Draft EnvSpec:\n" + json.dumps(body, ensure_ascii=False)
             + "\n\nTool docs:\n" + json.dumps(_tool_docs(tools), ensure_ascii=False)},
        ],
    )
    content = reply.choices[0].message.content if reply.choices else None
    if not content:
        raise ValueError("the answer is empty")
    return content


def _rebuild(answer: Any, draft: EnvSpec, seed: int) -> EnvSpec:
    """The answer as a full spec: the draft's identity, fresh seed rows and dependencies."""
    if not isinstance(answer, dict):
        raise ValueError("the answer is not a JSON object")
    data = {k: v for k, v in answer.items() if k not in ("seed", "dependencies")}
    data.update(name=draft.name, domain=draft.domain, source=draft.source, format=draft.format)
    spec = parse_envspec(data, origin=f"refined env '{draft.name}'")
    counts = {t.name: 12 if t.foreign_keys else 8 for t in spec.tables}
    data["seed"] = {"rows": generate_rows(spec, seed, counts), "generate": None}
    data["dependencies"] = [d.model_dump(mode="json") for d in derive_dependencies(spec)]
    return parse_envspec(data, origin=f"refined env '{draft.name}'")


def refine_environment(
    draft: EnvSpec, gated: GateResult, tools: list[ToolDef], llm: LLMConfig, *, seed: int = 0, min_tools: int = 3,
) -> tuple[GateResult, dict[str, Any]]:
    """(the gate result to keep, what happened) — the refined one only when it is at least as good."""
    before = len(gated.kept) if gated.passed else 0
    info: dict[str, Any] = {"env": draft.name, "accepted": False, "reason": None, "tools_before": before}
    try:
        answer = _extract_json(_ask(gated.spec or draft, tools, llm))
        refined = _rebuild(answer, draft, seed)
    except SpecError as err:
        info["reason"] = "invalid spec"
        info["detail"] = str(err)[:400]
        return gated, info
    except Exception as err:  # network, HTTP status, JSON: any failure keeps the draft
        info["reason"] = f"request failed ({type(err).__name__})"
        info["detail"] = str(err)[:400]
        return gated, info
    result = run_gate(refined, min_tools=min_tools)
    info["tools_after"] = len(result.kept) if result.passed else 0
    if not result.passed:
        info["reason"] = f"refined spec failed the gate ({result.reason})"
        return gated, info
    if len(result.kept) < before:
        info["reason"] = f"refined spec kept fewer working tools ({len(result.kept)} < {before})"
        return gated, info
    info["accepted"] = True
    return result, info
