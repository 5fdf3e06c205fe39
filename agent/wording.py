"""Seeded wording for scripted dialogues: templates x slots, the same text for the same task and seed.

Every choice is drawn from SHA-256 of (seed, task id, slot name, draw number), not Python's salted
`hash`, so a collection is byte-identical across processes and machines, while two tasks (or two
seeds) get different phrasings of the same move.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

_ACRONYMS = {"id": "ID", "ids": "IDs", "url": "URL", "iban": "IBAN", "sku": "SKU", "pnr": "PNR", "vin": "VIN"}


class Wording:
    """Picks among phrasings deterministically; each slot name draws its own sequence."""

    def __init__(self, seed: int | None, task_id: str):
        self.key = f"{seed or 0}\x00{task_id}"
        self.draws: dict[str, int] = {}

    def number(self, slot: str) -> float:
        """A uniform number in [0, 1) for `slot`, fixed by the seed and task."""
        n = self.draws.get(slot, 0)
        self.draws[slot] = n + 1
        digest = hashlib.sha256(f"{self.key}\x00{slot}\x00{n}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def pick(self, slot: str, options: Sequence[str]) -> str:
        return options[int(self.number(slot) * len(options))]

    def fill(self, slot: str, templates: Sequence[str], **values: str) -> str:
        return self.pick(slot, templates).format(**values)


def humanize(name: str) -> str:
    """`shipping_address` -> shipping address, `customerId` -> customer ID."""
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", name) or [name]
    return " ".join(_ACRONYMS.get(w.lower(), w.lower()) for w in words)


def value_text(value: Any) -> str:
    """A fact or argument as the user would type it (strings verbatim, anything else as JSON)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def join_words(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]
