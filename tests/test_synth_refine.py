"""LLM refinement against a scripted OpenAI-compatible endpoint on loopback."""

from __future__ import annotations

import json
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from synth.envs.synthesize import DEFAULT_APIS, LLMConfig, SynthSettings, synthesize, synthesize_domain
from tests.hubserver import serving
from tests.test_synth_schema import SHOP


def fake_llm(mode: dict[str, str], seen: list[dict]):
    """Answers chat completions: an improved copy of the draft, or a broken spec."""

    async def completions(request: Request) -> JSONResponse:
        body = await request.json()
        seen.append(body)
        user = body["messages"][-1]["content"]
        draft = json.loads(user.split("Draft EnvSpec:\n", 1)[1].split("\n\nTool docs:\n", 1)[0])
        if mode["mode"] == "improve":
            draft["description"] = "A refined shop."
            draft["tables"][0]["description"] = "Refined by the model."
            content = "Here you go:\n```json\n" + json.dumps(draft) + "\n```"
        elif mode["mode"] == "broken":
            draft["tools"][0]["operation"]["table"] = "no_such_table"
            content = json.dumps(draft)
        else:
            content = "I cannot help with that."
        return JSONResponse({
            "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })

    async def health(request: Request) -> JSONResponse:  # the serving() helper waits for it
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"]),
                             Route("/health", health)])


def test_refinement_accepts_a_good_answer_and_falls_back_on_bad_ones(tmp_path):
    mode = {"mode": "improve"}
    seen: list[dict] = []
    with serving(fake_llm(mode, seen)) as url:
        llm = LLMConfig(base_url=f"{url}/v1", model="fake-model", api_key="k", timeout=10)
        good = synthesize_domain("shop", "shop", SHOP, seed=1, llm=llm)
        assert good.refine["accepted"] is True, good.refine
        assert good.spec_json["description"] == "A refined shop."
        assert good.spec_json["seed"]["rows"] and len(good.tools_kept) == len(SHOP)
        assert seen[-1]["model"] == "fake-model" and "seed" not in seen[-1]["messages"][-1]["content"][:200]

        mode["mode"] = "broken"
        bad = synthesize_domain("shop", "shop", SHOP, seed=1, llm=llm)
        assert bad.refine["accepted"] is False and bad.refine["reason"] == "invalid spec"
        assert "no_such_table" in bad.refine["detail"]
        assert bad.spec_json is not None and bad.spec_json["description"] != "A refined shop."

        mode["mode"] = "prose"
        src = tmp_path / "apis"
        src.mkdir()
        (src / "orders.yaml").write_bytes((DEFAULT_APIS / "orders.yaml").read_bytes())
        report = synthesize([src], tmp_path / "b", SynthSettings(
            progress=False, workers=1, draw=False, llm=LLMConfig(base_url=f"{url}/v1", model="fake-model")))
    refine = report.data["refine"]
    assert refine["attempted"] >= 1 and refine["accepted"] == 0
    assert "request failed (ValueError)" in refine["fell_back"]
    assert report.environments_passing >= 1


def test_refinement_falls_back_when_the_endpoint_is_down():
    llm = LLMConfig(base_url="http://127.0.0.1:9/v1", model="m", timeout=2)
    result = synthesize_domain("shop", "shop", SHOP, seed=1, llm=llm)
    assert result.refine["accepted"] is False and result.refine["reason"].startswith("request failed")
    assert result.spec_json is not None
