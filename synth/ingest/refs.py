"""Inline local JSON `$ref`s of one document, with guards against cycles and runaway size."""

from __future__ import annotations

from typing import Any

from synth.ingest.common import IngestError

# Nested references deeper than this are cut: a tool's arguments rarely need more levels, and
# real specs (cloud APIs) nest objects deeply enough that full inlining explodes.
DEFAULT_MAX_REF_DEPTH = 6
# Upper bound on the nodes one operation's resolved schemas may have once written out: shared definitions
# are reused in memory, but a spec serialized into an environment must stay readable.
DEFAULT_MAX_NODES = 2000


def _cut() -> dict[str, Any]:
    return {"type": "object"}


class RefResolver:
    """Resolves `#/...` pointers inside `root`; cycles, too-deep chains and oversize expansions
    become `{"type": "object"}`.

    Resolutions are memoized per (ref, depth), so one spec costs about one walk of each
    definition per depth level rather than one per use (which is exponential for cloud APIs
    whose objects reference each other). Memoized dicts and $ref-free subtrees of the document are
    shared, not copied: callers must not mutate what they get.
    """

    def __init__(
        self,
        root: dict[str, Any],
        max_depth: int = DEFAULT_MAX_REF_DEPTH,
        max_nodes: int = DEFAULT_MAX_NODES,
    ) -> None:
        self.root = root
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self._memo: dict[tuple[str, int], tuple[Any, int]] = {}
        # id(raw node) -> its node count when the subtree holds no $ref (returned as is, not
        # copied), or -1 when it does. The raw document outlives the resolver, so ids are stable.
        self._plain: dict[int, int] = {}
        self._remaining = max_nodes
        self._budget_cut = False

    def lookup(self, ref: str) -> Any:
        """The raw target of a local `#/a/b` pointer; IngestError if it does not exist."""
        if not ref.startswith("#/") and ref != "#":
            raise IngestError(f"$ref {ref!r} is not a local '#/...' pointer")
        node: Any = self.root
        for raw in ref[2:].split("/") if ref != "#" else []:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise IngestError(f"$ref {ref!r} does not resolve: no {part!r}")
        return node

    def begin(self) -> None:
        """Start a fresh size budget: everything resolved until the next `begin` shares it
        (one operation's parameters, body and response)."""
        self._remaining = self.max_nodes
        self._budget_cut = False

    def resolve(self, node: Any) -> Any:
        """A copy of `node` with every local `$ref` inlined; IngestError for a dangling one."""
        return self._resolve(node, 0, frozenset())

    def _plain_size(self, node: Any) -> int:
        """Node count of a $ref-free dict/list subtree, -1 when a $ref is inside."""
        key = id(node)
        known = self._plain.get(key)
        if known is not None:
            return known
        size = 1
        if isinstance(node, dict) and "$ref" in node:
            size = -1
        else:
            for value in node.values() if isinstance(node, dict) else node:
                if isinstance(value, dict | list):
                    sub = self._plain_size(value)
                    if sub < 0:
                        size = -1
                        break
                    size += sub
        self._plain[key] = size
        return size

    def _resolve(self, node: Any, depth: int, seen: frozenset[str]) -> Any:
        if isinstance(node, dict | list):
            plain = self._plain_size(node)
            if plain >= 0:
                self._remaining -= plain
                return node
        if isinstance(node, dict):
            self._remaining -= 1
            ref = node.get("$ref")
            if isinstance(ref, str):
                target = self._resolve_ref(ref, depth, seen)
                if len(node) == 1:
                    return target
                # OpenAPI 3.1 lets siblings (description, nullable) sit next to $ref; they win.
                merged = dict(target) if isinstance(target, dict) else {}
                for key, value in node.items():
                    if key != "$ref":
                        merged[key] = self._resolve(value, depth, seen)
                return merged
            return {
                key: self._resolve(value, depth, seen) if isinstance(value, dict | list) else value
                for key, value in node.items()
            }
        if isinstance(node, list):
            self._remaining -= 1
            return [
                self._resolve(value, depth, seen) if isinstance(value, dict | list) else value
                for value in node
            ]
        return node

    def _resolve_ref(self, ref: str, depth: int, seen: frozenset[str]) -> Any:
        if not ref.startswith("#"):
            # Remote/file refs are not fetched: the value stays, typed as a free-form object.
            return {"type": "object", "description": f"(external reference {ref} not followed)"}
        if ref in seen or depth >= self.max_depth:
            return _cut()
        if self._remaining <= 0:
            self._budget_cut = True
            return _cut()
        key = (ref, depth)
        memo = self._memo.get(key)
        if memo is not None:
            value, size = memo
            if size <= self._remaining:
                self._remaining -= size
                return value
            self._budget_cut = True
            return _cut()
        target = self.lookup(ref)
        before_remaining, before_cut = self._remaining, self._budget_cut
        self._budget_cut = False
        value = self._resolve(target, depth + 1, seen | {ref})
        # An expansion truncated by the size budget is specific to this use; do not reuse it.
        if not self._budget_cut:
            self._memo[key] = (value, before_remaining - self._remaining)
        self._budget_cut = self._budget_cut or before_cut
        return value
