"""Domains and their names: slugs built from the words their tools share."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from synth.graph.vectorize import (
    index_terms,
)
from synth.tooldef import ToolDef

DOMAIN_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_GENERIC_WORDS = frozenset(
    [
        "get",
        "list",
        "create",
        "update",
        "delete",
        "remove",
        "add",
        "set",
        "put",
        "post",
        "patch",
        "find",
        "search",
        "query",
        "fetch",
        "retrieve",
        "by",
        "id",
        "ids",
        "all",
        "new",
        "api",
        "apis",
        "v1",
        "v2",
        "v3",
        "item",
        "items",
        "info",
        "details",
        "detail",
        "data",
        "resource",
        "resources",
        "operation",
        "operations",
        "service",
        "services",
        "request",
        "response",
    ]
)



@dataclass
class Domain:
    """One community of tools: the seed of one environment."""

    name: str
    tools: list[str]
    # The APIs the tools come from, most tools first.
    apis: list[str] = field(default_factory=list)



def is_inferred_api(label: str) -> bool:
    """True for an API label `synth.graph.origins` made up (`tools~3`), not one a source gave."""
    return bool(re.search(r"~\d+$", label))


def slugify(text: str, max_length: int = 40) -> str:
    """Lowercase `[a-z0-9-]` slug; an empty result becomes ''."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:max_length].rstrip("-")


def api_slug(api: str) -> str:
    """`Order Desk API` -> `order-desk`: the word "API" says nothing about the world inside."""
    slug = slugify(api)
    trimmed = re.sub(r"(-(rest|web|http|open))?-apis?$", "", slug)
    return trimmed or slug


def name_domains(
    communities: list[list[str]], by_name: dict[str, ToolDef], api_of: dict[str, str] | None = None
) -> list[Domain]:
    """Name each community after its dominant API, made distinct by its most telling word.

    `api_of` gives each tool's API when it is not the tool's own (`synth.graph.origins` infers
    one for tool files that name none): an inferred API (`tools~3`) is no name for a world, so
    such a community is named after the words its tools share, like a mixed one.
    """
    drafts: list[tuple[str, list[str], list[str], Counter[str]]] = []
    for members in communities:
        apis = Counter((api_of or {}).get(name, by_name[name].api) or "" for name in members)
        ranked_apis = [api for api, _ in sorted(apis.items(), key=lambda item: (-item[1], item[0])) if api]
        words: Counter[str] = Counter()
        for name in members:
            tool = by_name[name]
            for word in index_terms(tool.original_name or tool.name):
                if word not in _GENERIC_WORDS and len(word) > 2:
                    words[word] += 2
            for tag in tool.tags:
                for word in index_terms(tag):
                    if word not in _GENERIC_WORDS and len(word) > 2:
                        words[word] += 1
        top_api = ranked_apis[0] if ranked_apis else ""
        if top_api and apis[top_api] * 2 >= len(members) and not is_inferred_api(top_api):
            base = api_slug(top_api)
        else:
            base = "-".join(
                word for word, _ in sorted(words.items(), key=lambda item: (-item[1], item[0]))[:2]
            )
            base = slugify(base) or api_slug(top_api)
        drafts.append((base or "domain", members, ranked_apis, words))

    base_count = Counter(base for base, *_ in drafts)
    taken: set[str] = set()
    domains: list[Domain] = []
    for base, members, apis, words in drafts:
        name = base
        if base_count[base] > 1:
            base_words = set(base.split("-"))
            telling = next(
                (
                    w
                    for w, _ in sorted(words.items(), key=lambda item: (-item[1], item[0]))
                    if w not in base_words
                ),
                None,
            )
            if telling:
                name = slugify(f"{base}-{telling}", 60)
        candidate, counter = name, 2
        while candidate in taken:
            candidate = f"{name[:58]}-{counter}"
            counter += 1
        if not DOMAIN_NAME_PATTERN.match(candidate):
            candidate = f"domain-{len(domains)}"
        taken.add(candidate)
        domains.append(Domain(name=candidate, tools=sorted(members), apis=apis))
    return sorted(domains, key=lambda domain: domain.name)


