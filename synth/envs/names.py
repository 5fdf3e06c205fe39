"""Identifier helpers: snake_case, singular/plural nouns and safe SQL / environment names."""

from __future__ import annotations

import re

_CAMEL_1 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL_2 = re.compile(r"([a-z0-9])([A-Z])")
_NON_WORD = re.compile(r"[^A-Za-z0-9]+")

# Words whose plural and singular are the same, or that merely end in "s".
_INVARIANT = {
    "news", "series", "species", "status", "bus", "address", "analysis", "basis", "process",
    "access", "business", "class", "glass", "data", "metadata", "info", "information", "media",
    "settings", "stats", "statistics", "analytics", "alias", "canvas", "campus", "census", "virus",
    "corpus", "radius", "bonus", "plus", "sms", "dns", "gas", "tennis", "physics", "weather",
    "software", "equipment", "feedback", "progress", "success", "chassis", "aws",
}
_IRREGULAR = {
    "people": "person", "children": "child", "men": "man", "women": "woman", "mice": "mouse",
    "geese": "goose", "feet": "foot", "teeth": "tooth", "indices": "index", "matrices": "matrix",
    "vertices": "vertex", "criteria": "criterion", "phenomena": "phenomenon", "leaves": "leaf",
    "lives": "life", "wives": "wife", "knives": "knife", "movies": "movie", "cookies": "cookie",
    "quizzes": "quiz", "buses": "bus", "statuses": "status", "addresses": "address",
    "aliases": "alias", "analyses": "analysis", "processes": "process", "responses": "response",
    "databases": "database", "releases": "release", "purchases": "purchase", "licenses": "license",
    "cases": "case", "phases": "phase", "bases": "base", "courses": "course", "sources": "source",
    "resources": "resource", "devices": "device", "invoices": "invoice", "prices": "price",
    "services": "service", "spaces": "space", "places": "place", "choices": "choice",
    "voices": "voice", "pages": "page", "images": "image", "messages": "message",
    "packages": "package", "languages": "language", "changes": "change", "ranges": "range",
    "files": "file", "profiles": "profile", "roles": "role", "rules": "rule", "types": "type",
    "nodes": "node", "codes": "code", "modes": "mode", "zones": "zone", "phones": "phone",
    "templates": "template", "notes": "note", "quotes": "quote", "routes": "route",
    "sites": "site", "votes": "vote", "dates": "date", "rates": "rate", "states": "state",
    "updates": "update", "names": "name", "times": "time", "titles": "title", "tables": "table",
    "articles": "article", "vehicles": "vehicle", "schedules": "schedule", "modules": "module",
    "caches": "cache", "niches": "niche",
}
_PLURAL_IRREGULAR = {v: k for k, v in _IRREGULAR.items() }


def split_words(text: str) -> list[str]:
    """`getOrderItems` / `get-order_items` / `GetOrderItems` -> ['get', 'order', 'items']."""
    text = _CAMEL_1.sub(r"\1_\2", text)
    text = _CAMEL_2.sub(r"\1_\2", text)
    return [w.lower() for w in _NON_WORD.split(text) if w]


def snake(text: str) -> str:
    return "_".join(split_words(text))


def identifier(text: str, *, fallback: str = "field") -> str:
    """A safe SQL identifier (`^[A-Za-z_][A-Za-z0-9_]{0,63}$`) made from any text."""
    name = snake(text) or fallback
    if name[0].isdigit():
        name = f"n_{name}"
    return name[:64].rstrip("_") or fallback


# Values that name one thing (a code, a key, a symbol, a product id), by name or by a description
# that opens by calling them one ("IATA code of the origin airport", "The unique identifier of ...").
_IDENTIFIER_NAME = re.compile(r"(^|_)(id|ids|code|key|uuid|guid|sku|isbn|symbol|ticker|epid|asin)$")
_IDENTIFIER_TEXT = re.compile(
    r"^\W*(the |an? |unique )?([\w-]+ ){0,3}(identifier|id|code|key|symbol)\b(?! (word|phrase|text|search))",
    re.IGNORECASE)


def is_identifier(name: str, description: str = "") -> bool:
    """`RouteID`, `stationCode`, `isbn`, `epid`, `origin` "IATA code of ...": yes; `name`,
    `idle_time`, `query` "Code word to search for": no."""
    return bool(_IDENTIFIER_NAME.search(identifier(name)) or _IDENTIFIER_TEXT.match(description))


def singular(word: str) -> str:
    w = word.lower()
    if w in _INVARIANT or len(w) <= 3:
        return w
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


def singular_phrase(name: str) -> str:
    """Singularize the last word of a snake_case phrase (`order_items` -> `order_item`)."""
    words = name.split("_")
    words[-1] = singular(words[-1])
    return "_".join(words)


def plural(word: str) -> str:
    if word in _PLURAL_IRREGULAR:
        return _PLURAL_IRREGULAR[word]
    if word in _INVARIANT:
        return word
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"


def plural_phrase(name: str) -> str:
    words = name.split("_")
    words[-1] = plural(words[-1])
    return "_".join(words)


_ENV_BAD = re.compile(r"[^a-z0-9_-]+")


def env_name(text: str, taken: set[str]) -> str:
    """A unique environment name matching `^[a-z0-9][a-z0-9_-]{0,63}$`; records it in `taken`."""
    base = _ENV_BAD.sub("-", text.lower()).strip("-_") or "env"
    if not base[0].isalnum():
        base = f"env-{base}"
    return _claim(base[:56].rstrip("-_"), "-", taken)


def tool_name(text: str, taken: set[str]) -> str:
    """A unique MCP tool name (`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`); records it in `taken`."""
    base = re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("_.-")[:120] or "tool"
    if not re.match(r"[A-Za-z0-9_]", base[0]):
        base = f"t_{base}"
    return _claim(base, "_", taken)


def _claim(base: str, separator: str, taken: set[str]) -> str:
    """`base`, or `base<sep>2`, `base<sep>3`... whichever is free first; records it in `taken`."""
    name, n = base, 2
    while name in taken:
        name = f"{base}{separator}{n}"
        n += 1
    taken.add(name)
    return name
