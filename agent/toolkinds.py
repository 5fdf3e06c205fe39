"""What a tool does, judged from its name (and description when there is one): read, write, destructive.

The scripted dialogue policy sees tools in OpenAI form, as a model does, so it judges a tool by its
name's leading verb, the way a reader of the tool list would. The exact-match filter uses the
server's `readOnlyHint` when the server gives hints (agent.rollout.EpisodeTools) and this verb rule
only when it gives none. Unknown verbs count as writes: asking to confirm a harmless call, or
demanding it appear in order, is the safe mistake.
"""

from __future__ import annotations

import re

READ_VERBS = frozenset({
    "get", "list", "find", "search", "lookup", "look", "check", "view", "show", "query", "fetch", "read",
    "describe", "count", "retrieve", "browse", "filter", "calculate", "compute", "estimate", "quote",
    "preview", "inspect", "verify", "validate", "summarize", "track", "locate", "see", "info",
})
DESTRUCTIVE_VERBS = frozenset({
    "delete", "remove", "cancel", "block", "close", "terminate", "revoke", "void", "deactivate", "suspend",
    "drop", "purge", "discard", "destroy", "erase", "disable", "archive", "expire", "withdraw", "unsubscribe",
})
_DESTRUCTIVE_WORDS = re.compile(r"\b(permanent(ly)?|cannot be undone|irreversibl[ey]|can't be undone)\b", re.I)
# A tool list or system prompt that asks for confirmation before changes (the τ²-bench wording and kin).
CONFIRM_RULE = re.compile(
    r"\b(confirm\w*\s+(with\s+the\s+user\s+)?before|explicit\s+(user\s+)?confirmation|"
    r"ask\s+(the\s+user\s+)?(for\s+confirmation|to\s+confirm)|obtain\s+(explicit\s+)?confirmation)", re.I)


def leading_verb(name: str) -> str:
    """`cancel_order` -> cancel, `getOrderById` -> get, `orders.list` -> orders (first word, lower case)."""
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", name)
    return words[0].lower() if words else name.lower()


_CHECK_IN_OUT = re.compile(r"^check[_\-\s]?(in|out)\b|^check(In|Out)", re.I)


def is_read(name: str) -> bool:
    # "check" reads (check_availability) except in check-in / check-out, which change a booking.
    return leading_verb(name) in READ_VERBS and not _CHECK_IN_OUT.match(name)


def is_destructive(name: str, description: str = "") -> bool:
    return leading_verb(name) in DESTRUCTIVE_VERBS or bool(_DESTRUCTIVE_WORDS.search(description or ""))


def asks_for_confirmation(text: str) -> bool:
    """Whether a policy text (system prompt, tool description) requires confirming changes first."""
    return bool(CONFIRM_RULE.search(text or ""))
