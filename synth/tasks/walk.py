"""Walks over an environment's tool-dependency graph: the skeletons of tasks.

An edge `source -> target (argument, column)` means `source`'s result carries a value (its
`column`) that `target` takes as `argument`: looking up an order gives the order id that
cancelling it needs. The spec's declared `dependencies` are used first; edges the operations
imply (a result row of table T feeds an argument that is T's key, or a foreign key to it) are
added so that synthesized specs with sparse dependency lists still chain.

Walks are built backwards from the step that carries the user's intent (a final read for a
question, a write for a change), so every earlier step feeds a later one: the gold calls hold
only calls an agent needs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from servers.semantics import ToolSemantics
from servers.spec import EnvSpec


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    argument: str
    column: str


@dataclass
class WalkStep:
    tool: str
    # argument -> (index of the earlier step, column of that step's result) it is taken from
    feeds: dict[str, tuple[int, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Intent:
    """One thing the user wants: a question (`read`) or a change (`write`), ending at step `last`;
    `steps` are the walk steps drawn for it (lookups it shares with an earlier intent are not)."""

    kind: str
    steps: tuple[int, ...]

    @property
    def last(self) -> int:
        return self.steps[-1]


@dataclass
class Walk:
    steps: list[WalkStep]
    intents: list[Intent] = field(default_factory=list)

    @property
    def tools(self) -> list[str]:
        return [s.tool for s in self.steps]


def _resolve_column(spec: EnvSpec, shapes: dict[str, ToolSemantics], source: str, target: str, argument: str, column: str | None) -> str | None:
    """The result column of `source` that feeds `target.argument`, or None when there is none."""
    src = shapes[source]
    if column is not None:
        return column if column in src.output_columns else None
    if argument in src.output_columns:
        return argument
    use = shapes[target].primary_use(argument)
    if use is not None and use.column is not None and use.column in src.output_columns:
        return use.column
    pk = spec.table(src.output_table).primary_key
    return pk if pk in src.output_columns else None


def _implied_column(spec: EnvSpec, src: ToolSemantics, target_table: str, target_column: str | None) -> str | None:
    """Which column of `src`'s result rows can fill `target_table.target_column` (None: the key)."""
    table = spec.table(target_table)
    column = target_column or table.primary_key
    out = spec.table(src.output_table)
    if src.output_table == target_table:
        return column if column in src.output_columns and column == table.primary_key else None
    # target column is a foreign key to the source's table: the source's referenced column feeds it
    for fk in table.foreign_keys:
        if fk.column == column and fk.ref_table == src.output_table and fk.ref_column in src.output_columns:
            return fk.ref_column
    # target column is the key of its table and the source's rows point at it through a foreign key
    if column == table.primary_key:
        for fk in out.foreign_keys:
            if fk.ref_table == target_table and fk.ref_column == column and fk.column in src.output_columns:
                return fk.column
    return None


def dependency_edges(spec: EnvSpec, shapes: dict[str, ToolSemantics]) -> list[Edge]:
    """Declared edges (with their columns resolved) followed by the ones the operations imply."""
    edges: list[Edge] = []
    seen: set[tuple[str, str, str]] = set()
    for dep in spec.dependencies:
        if dep.source == dep.target or dep.argument not in shapes[dep.target].properties:
            continue
        column = _resolve_column(spec, shapes, dep.source, dep.target, dep.argument, dep.column)
        if column is None or (dep.source, dep.target, dep.argument) in seen:
            continue
        seen.add((dep.source, dep.target, dep.argument))
        edges.append(Edge(dep.source, dep.target, dep.argument, column))
    for target in shapes.values():
        for arg in target.properties:
            use = target.primary_use(arg)
            # Only row keys are chained implicitly; other hand-overs must be declared by the spec.
            if use is None or use.role != "key":
                continue
            for src in shapes.values():
                if src.name == target.name or (src.name, target.name, arg) in seen:
                    continue
                column = _implied_column(spec, src, use.table, None)
                if column is None or _filters_on(src, column):
                    continue
                seen.add((src.name, target.name, arg))
                edges.append(Edge(src.name, target.name, arg, column))
    return edges


def _is_reference(spec: EnvSpec, table: str, column: str | None) -> bool:
    t = spec.table(table)
    return column == t.primary_key or any(fk.column == column for fk in t.foreign_keys)


def _filters_on(src: ToolSemantics, column: str) -> bool:
    """Whether `src` is searched by `column` itself: passing that value on would go in a circle."""
    return any(
        use.role == "filter" and use.table == src.output_table and use.column == column
        for uses in src.uses.values() for use in uses
    )


# The default distribution of walk lengths (gold calls): 2..10, median 5 before walks that fail
# are dropped (short walks fail less often, so the kept median is lower; see docs/tasks.md).
LENGTH_WEIGHTS: dict[int, int] = {2: 2, 3: 3, 4: 4, 5: 4, 6: 3, 7: 2, 8: 2, 9: 1, 10: 1}
MAX_INTENTS = 4
# How often a new intent reuses a record an earlier intent already looked up ("... and for the
# same customer, ..."), rather than starting from a fact of its own.
GRAFT_PROBABILITY = 0.7


def draw_length(rng: random.Random, min_steps: int, max_steps: int) -> int:
    """A walk length from LENGTH_WEIGHTS, cut to [min_steps, max_steps]."""
    lengths = [n for n in LENGTH_WEIGHTS if min_steps <= n <= max_steps]
    if not lengths:
        return max(min_steps, min(max_steps, 1))
    return rng.choices(lengths, weights=[LENGTH_WEIGHTS[n] for n in lengths])[0]


class WalkBuilder:
    """Draws walks that end in a read (questions) or contain a write (changes): one dependent chain
    per intent, several intents per walk, later intents grafted onto records earlier ones found."""

    def __init__(self, spec: EnvSpec, shapes: dict[str, ToolSemantics], edges: list[Edge] | None = None):
        self.spec = spec
        self.shapes = shapes
        self.edges = dependency_edges(spec, shapes) if edges is None else edges
        self.incoming: dict[str, list[Edge]] = {}
        for e in self.edges:
            self.incoming.setdefault(e.target, []).append(e)

    def final_tools(self, kind: str) -> list[str]:
        want_read = kind == "read"
        return [name for name, s in self.shapes.items() if s.read_only == want_read]

    def draw(self, rng: random.Random, kind: str, max_steps: int) -> Walk | None:
        """A walk whose last tool is a read (`kind="read"`, all tools reads) or a write."""
        finals = self.final_tools(kind)
        if not finals:
            return None
        length = rng.randint(1, max(1, max_steps))
        chain = [rng.choice(finals)]
        links: list[Edge] = []
        while len(chain) < length:
            options = [e for e in self.incoming.get(chain[0], []) if e.source not in chain and self._natural(e)]
            if not options:
                break
            edge = rng.choice(options)
            chain.insert(0, edge.source)
            links.insert(0, edge)
        steps = [WalkStep(tool) for tool in chain]
        for i, edge in enumerate(links):
            steps[i + 1].feeds[edge.argument] = (i, edge.column)
        walk = Walk(steps, [Intent(kind, tuple(range(len(steps))))])
        self._link_shared(walk)
        return walk

    def compose(self, rng: random.Random, kind: str, length: int, max_intents: int = MAX_INTENTS) -> Walk | None:
        """A walk of about `length` steps: intents drawn one after another until it is that long.

        A `read` walk asks only questions; a `write` walk's first intent is a change and later ones
        are changes or questions. Each intent is a chain built backwards from its final tool; when
        a step of an earlier intent can feed the chain, the chain is grafted onto it (the same
        customer, the order just found) instead of starting from a fact of its own."""
        if not self.final_tools(kind):
            return None
        steps: list[WalkStep] = []
        intents: list[Intent] = []
        for _ in range(2 * max_intents):
            if len(steps) >= length or len(intents) >= max_intents:
                break
            intent_kind = kind if not intents or kind == "read" else rng.choice(["write", "write", "read"])
            if not self.final_tools(intent_kind):
                intent_kind = kind
            chain = self._chain(rng, intent_kind, length - len(steps), steps)
            if chain is None:
                continue
            start = len(steps)
            steps += chain
            intents.append(Intent(intent_kind, tuple(range(start, len(steps)))))
        if not intents:
            return None
        walk = Walk(steps, intents)
        self._link_shared(walk)
        return walk

    def _chain(self, rng: random.Random, kind: str, budget: int, earlier: list[WalkStep]) -> list[WalkStep] | None:
        """New steps for one intent (indices continue after `earlier`), ending in a `kind` tool."""
        finals = self.final_tools(kind)
        if not finals or budget < 1:
            return None
        target = rng.randint(1, budget)
        chain = [rng.choice(finals)]
        links: list[Edge] = []
        graft: tuple[Edge, int] | None = None
        while True:
            incoming = [e for e in self.incoming.get(chain[0], []) if self._natural(e)]
            shared = [(e, i) for e in incoming for i, s in enumerate(earlier) if s.tool == e.source]
            if shared and rng.random() < GRAFT_PROBABILITY:
                graft = rng.choice(shared)
                break
            if len(chain) >= target:
                break
            options = [e for e in incoming if e.source not in chain]
            if not options:
                break
            edge = rng.choice(options)
            chain.insert(0, edge.source)
            links.insert(0, edge)
        base = len(earlier)
        steps = [WalkStep(tool) for tool in chain]
        for k, edge in enumerate(links):
            steps[k + 1].feeds[edge.argument] = (base + k, edge.column)
        if graft is not None:
            edge, i = graft
            steps[0].feeds[edge.argument] = (i, edge.column)
        return steps

    def _link_shared(self, walk: Walk) -> None:
        steps = walk.steps
        # Other arguments that an earlier step of the walk can fill are taken from it too: the
        # agent would not ask the user for a value it has just looked up.
        for j in range(1, len(steps)):
            for e in self.incoming.get(steps[j].tool, []):
                if e.argument in steps[j].feeds:
                    continue
                for i in range(j - 1, -1, -1):
                    if steps[i].tool == e.source:
                        steps[j].feeds[e.argument] = (i, e.column)
                        break
        # Arguments naming the same column an earlier result carries (the order id of the item
        # just listed) come from that result too, so the walk stays about one set of rows.
        for j in range(1, len(steps)):
            target = self.shapes[steps[j].tool]
            for arg in target.properties:
                use = target.primary_use(arg)
                if arg in steps[j].feeds or use is None or use.role not in ("key", "value"):
                    continue
                if use.role == "value" and not _is_reference(self.spec, use.table, use.column):
                    continue
                column = use.column or self.spec.table(use.table).primary_key
                for i in range(j - 1, -1, -1):
                    src = self.shapes[steps[i].tool]
                    if column in src.output_columns and (src.read_only or not target.read_only):
                        steps[j].feeds[arg] = (i, column)
                        break

    def _natural(self, edge: Edge) -> bool:
        """Lookups feed anything; a write feeds only a later write's new row (an order, then its item),
        never a read (the agent already holds the write's result) nor the key of a row to change."""
        if self.shapes[edge.source].read_only:
            return True
        return not self.shapes[edge.target].read_only and not self._is_key(edge)

    def _is_key(self, edge: Edge) -> bool:
        use = self.shapes[edge.target].primary_use(edge.argument)
        return use is not None and use.role == "key"
