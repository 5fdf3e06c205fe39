"""LLM paraphrase of goals against a tiny OpenAI-compatible server on loopback."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from synth.tasks import generate_tasks, load_specs
from synth.tasks.paraphrase import Paraphraser

PREFIX = "Hello! Here is what I need, in my own words: "


async def chat(request: Request) -> JSONResponse:
    body = await request.json()
    user = body["messages"][-1]["content"]
    goal = user.split("\n\nFACTS:")[0]
    # model "faithful" keeps every fact; model "lossy" drops them all; "tooly" names a tool.
    content = {
        "faithful": PREFIX + goal,
        "lossy": "Hello! Please help me with my request.",
        "tooly": PREFIX + goal + " Maybe use get_order.",
    }[body["model"]]
    return JSONResponse({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    })


@pytest.fixture(scope="module")
def endpoint():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    assert server.started
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def one_spec():
    specs, _ = load_specs(None)
    return specs[:1]


def test_faithful_paraphrase_replaces_the_template(endpoint, one_spec):
    plain = generate_tasks(one_spec, 4, seed=2)
    para = Paraphraser(endpoint, "faithful")
    tasks = generate_tasks(one_spec, 4, seed=2, paraphraser=para)
    assert para.kept == len(tasks) and para.rejected == 0
    for before, after in zip(plain, tasks, strict=True):
        assert after.goal == PREFIX + before.goal
        assert after.gold_calls == before.gold_calls


def test_paraphrase_that_loses_a_fact_keeps_the_template(endpoint, one_spec):
    plain = generate_tasks(one_spec, 4, seed=2)
    para = Paraphraser(endpoint, "lossy")
    tasks = generate_tasks(one_spec, 4, seed=2, paraphraser=para)
    assert [t.goal for t in tasks] == [t.goal for t in plain]
    assert para.rejected == sum(1 for t in tasks if t.user_facts) and para.kept == len(tasks) - para.rejected


def test_paraphrase_naming_a_tool_is_rejected(endpoint):
    para = Paraphraser(endpoint, "tooly")
    para.forbid(["get_order"])
    assert para.paraphrase("Cancel order O-1.", {"order_id": "O-1"}) == "Cancel order O-1."
    assert para.rejected == 1


def test_unreachable_endpoint_keeps_the_template():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    para = Paraphraser(f"http://127.0.0.1:{port}/v1", "any", timeout=2)
    assert para.paraphrase("Cancel order O-1.", {"order_id": "O-1"}) == "Cancel order O-1."
    assert para.failed == 1


def test_personas_are_sketched_and_paraphrased_without_facts(endpoint, one_spec):
    plain = generate_tasks(one_spec, 4, seed=2)
    assert all(t.persona and t.persona.startswith("You are ") for t in plain)
    para = Paraphraser(endpoint, "faithful")
    tasks = generate_tasks(one_spec, 4, seed=2, paraphraser=para)
    assert para.personas_kept == len(tasks) and para.personas_rejected == 0
    for before, after in zip(plain, tasks, strict=True):
        assert after.persona == PREFIX + before.persona


def test_persona_rewrite_naming_a_tool_keeps_the_sketch(endpoint):
    para = Paraphraser(endpoint, "tooly")
    para.forbid(["get_order"])
    sketch = "You are a student, calm and friendly, who writes short, direct messages."
    assert para.paraphrase_persona(sketch) == sketch
    assert para.personas_rejected == 1 and para.personas_kept == 0
