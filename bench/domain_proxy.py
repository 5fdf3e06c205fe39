"""The public proxy for identity-less tool files: tools of N random APIs of the OpenAPI archive,
merged into one OpenAI tools file with everything that names the API removed.

What the file keeps is what an OpenAPI -> OpenAI-tools converter would write for each operation:
the tool name (the spec's operationId, or method + path when it has none), its description and its
parameters (JSON Schema, transport/auth parameters already dropped by ingest). What it removes:
- the API's title, server URL, base path, tags and the HTTP method/path (an OpenAI tool has none);
- a leading name segment that every tool of one API shares and that is not a verb, such as
  Google's `tagmanager.` in `tagmanager.accounts.list` (a converter that namespaces by API would
  make grouping trivial; `--keep-prefixes` measures that easier variant);
- name clashes between APIs get a neutral `_2` suffix, never the API's name;
- the tool order is shuffled, so neighbours in the file say nothing.
Descriptions are kept as the spec wrote them, even where they mention the product: real dumps do.
Ground truth is the spec file a tool came from.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from synth.ingest.common import sanitize_name
from synth.tooldef import ToolDef

_SEGMENT = re.compile(r"[._:\-/ ]")
# A shared first segment that is an action or HTTP method is style, not identity: keep it.
_VERB_SEGMENTS = frozenset(
    ["get", "post", "put", "patch", "delete", "head", "options", "list", "create", "update", "remove", "add", "set", "find", "search", "fetch", "retrieve", "query", "read", "write", "upload", "download"]
)


@dataclass(frozen=True)
class Proxy:
    """One proxy instance: the OpenAI tools (file content) and each tool's true API (spec file)."""

    seed: int
    apis: list[str]
    functions: list[dict]
    truth: dict[str, str]

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps({"tools": self.functions}, ensure_ascii=False), encoding="utf-8")
        return path


def shared_prefix(names: list[str]) -> str | None:
    """The leading segment every name shares (`tagmanager` of `tagmanager.accounts.list`), if any."""
    if len(names) < 2 or not all(_SEGMENT.search(name) for name in names):
        return None
    firsts = {_SEGMENT.split(name, maxsplit=1)[0] for name in names}
    if len(firsts) != 1:
        return None
    first = firsts.pop()
    if not first or first.lower() in _VERB_SEGMENTS:
        return None
    return first


def tools_by_api(tools: list[ToolDef]) -> dict[str, list[ToolDef]]:
    """Ingested archive tools grouped by spec file (`archive::specs/x.com/1.0.json` -> that member)."""
    out: dict[str, list[ToolDef]] = defaultdict(list)
    for tool in tools:
        out[tool.source.split("::", 1)[-1]].append(tool)
    return dict(sorted(out.items()))


def build_proxy(
    by_api: dict[str, list[ToolDef]], seed: int, n_apis: int = 15, *, keep_prefixes: bool = False
) -> Proxy:
    rng = random.Random(seed)
    apis = sorted(rng.sample(sorted(by_api), n_apis))
    entries: list[tuple[str, str, dict]] = []
    for api in apis:
        tools = by_api[api]
        originals = [tool.original_name or tool.name for tool in tools]
        prefix = None if keep_prefixes else shared_prefix(originals)
        for tool, original in zip(tools, originals, strict=True):
            name = original
            if prefix is not None:
                name = _SEGMENT.split(original, maxsplit=1)[1]
            entries.append((sanitize_name(name), api, {"description": tool.description, "parameters": tool.parameters}))
    rng.shuffle(entries)
    taken: set[str] = set()
    functions: list[dict] = []
    truth: dict[str, str] = {}
    for name, api, body in entries:
        unique, counter = name, 2
        while unique in taken:
            unique = f"{name[:60]}_{counter}"
            counter += 1
        taken.add(unique)
        truth[unique] = api
        functions.append({"type": "function", "function": {"name": unique, **body}})
    return Proxy(seed, apis, functions, truth)
