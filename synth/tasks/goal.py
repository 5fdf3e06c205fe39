"""The user's goal in natural language, from the walk's executed gold calls.

Goals are written from the user's side ("I'd like to cancel order O-1003. The reason is: arrives
too late.") and never name a tool: table and column names are humanized, and the verb comes from
the operation's kind (or from a tool name's leading verb, spelled as a plain word, when it says
more than "update": cancel, approve, book). Every fact the user knows (the arguments no earlier
step produced) appears verbatim in the goal, so a simulated user can reveal it when asked.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from servers.semantics import ToolSemantics
from servers.spec import EnvSpec
from synth.envs.names import plural, singular, split_words

from .walk import Walk, WalkStep

# Leading tool-name words that only restate the operation kind; the kind's own template says it better.
_GENERIC_VERBS = {
    "create", "add", "insert", "new", "post", "put", "update", "set", "patch", "modify", "edit", "change",
    "delete", "remove", "del", "get", "list", "find", "search", "fetch", "retrieve", "lookup", "query",
    "read", "show", "view", "do", "make", "handle", "process", "upsert", "save", "write", "store",
}
# A tool name's leading HTTP method (`post_ips_cancel_warmup_json`), and the format suffixes of its path.
_HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head"}
_FORMAT_WORDS = {"json", "xml", "format", "by", "id"}
# Tool-name words that say what a write does, beyond insert/update/delete.
_ACTION_VERBS = {
    "cancel", "approve", "reject", "book", "block", "unblock", "freeze", "unfreeze", "check", "close",
    "open", "reopen", "archive", "unarchive", "restore", "activate", "deactivate", "enable", "disable",
    "assign", "unassign", "confirm", "deposit", "withdraw", "transfer", "pay", "refund", "return",
    "request", "resolve", "renew", "suspend", "resume", "start", "stop", "pause", "publish", "unpublish",
    "submit", "send", "share", "invite", "accept", "decline", "lock", "unlock", "move", "copy", "rename",
    "reset", "verify", "watch", "unwatch", "subscribe", "unsubscribe", "follow", "unfollow", "star",
    "unstar", "upload", "attach", "detach", "register", "unregister", "schedule", "reschedule",
    "complete", "ship", "place", "redeem", "apply", "claim", "vote", "mark", "flag", "merge", "deploy",
    "reserve", "release", "revoke", "grant", "sign", "join", "leave", "upgrade",
    "downgrade", "charge", "void", "capture", "dispute", "escalate", "rebook",
    "buy", "purchase", "sell", "like", "unlike", "pin", "unpin", "mute", "unmute", "ban", "unban",
    "import", "export", "run", "execute", "trigger", "retry", "clone", "fork",
    "snooze", "dismiss", "acknowledge", "ack", "finish", "undo", "redo", "promote", "demote",
    "pick", "drop", "top",
}
_PARTICLES = {"in", "out", "up", "off", "on", "back", "over", "down"}
_ACRONYMS = {"id": "ID", "ids": "IDs", "url": "URL", "sku": "SKU", "iban": "IBAN", "pnr": "PNR", "api": "API",
             "iata": "IATA", "vat": "VAT", "zip": "ZIP", "usd": "USD", "eur": "EUR"}
_READ_OPENERS = ["Could you tell me", "Can you check", "Can you look up", "Would you find out"]
_WRITE_OPENERS = ["I'd like to", "Please", "Can you", "I need to"]
# A further thing the user wants, in the same message.
_MORE_WRITE_OPENERS = ["I'd also like to", "Also, please", "And I need to", "While you're at it, can you",
                       "Could you also"]
_MORE_READ_OPENERS = ["Also, could you tell me", "And can you check", "I'd also like to know"]


def humanize(name: str) -> str:
    """`order_id` -> 'order ID', `totalAmount` -> 'total amount'."""
    return " ".join(_ACRONYMS.get(w, w) for w in split_words(name)) or name


def field_label(column: str) -> str:
    """How a user names a result field: `placed_at` -> 'date placed', `last4` -> 'last4'."""
    words = split_words(column)
    if len(words) > 1 and words[-1] in ("at", "on") :
        return "date " + " ".join(words[:-1])
    return humanize(column)


def noun(table: str) -> str:
    """A table's name as a singular noun phrase: `order_items` -> 'order item'."""
    words = split_words(table) or [table]
    words[-1] = singular(words[-1])
    return " ".join(_ACRONYMS.get(w, w) for w in words)


def nouns(table: str) -> str:
    words = split_words(table) or [table]
    words[-1] = plural(singular(words[-1]))
    return " ".join(words)


def column_noun(column: str) -> str:
    """`flight_id` -> 'flight' (what the column points at), other columns humanized."""
    words = split_words(column)
    if len(words) > 1 and words[-1] in ("id", "key", "code", "number", "no"):
        words = words[:-1]
    return " ".join(_ACRONYMS.get(w, w) for w in words) or column


def fact_text(value: Any) -> str:
    """How a value is written in a goal (and searched for when checking a paraphrase)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ", ".join(fact_text(v) for v in value)
    return str(value)


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


@dataclass
class GoalInput:
    """Everything the templates look at: the walk, its calls and results, what the user knows."""

    spec: EnvSpec
    shapes: dict[str, ToolSemantics]
    walk: Walk
    calls: list[dict[str, Any]]
    results: list[Any]
    # (step index, argument) pairs whose value the user knows (not produced by an earlier step).
    facts: dict[tuple[int, str], Any]
    # Step index of each question's answer -> the result fields the question asks for.
    asked: dict[int, list[str]]
    kind: str
    # (step index of a write, column, value): that write happens only if the record's column has
    # that value ("if order O-1 is still pending, cancel it; otherwise just tell me its status").
    condition: tuple[int, str, Any] | None = None
    # The conditional write's `otherwise` change: (call, its result) ("otherwise, return the lamp").
    otherwise: tuple[dict[str, Any], Any] | None = None

    def otherwise_facts(self) -> dict[str, Any]:
        """What the user states for the `otherwise` change: its arguments, less a record key that
        an earlier step looked up (the same record the conditional write addresses)."""
        if self.otherwise is None or self.condition is None:
            return {}
        call, i = self.otherwise[0], self.condition[0]
        key = self.shapes[call["name"]].key_arg()
        looked_up = (i, self.shapes[self.calls[i]["name"]].key_arg() or "") not in self.facts
        return {arg: v for arg, v in call["arguments"].items() if not (arg == key and looked_up)}


class GoalWriter:
    def __init__(self, goal: GoalInput, rng: random.Random):
        self.g = goal
        self.rng = rng

    # -- phrases for rows and values ------------------------------------------------------------

    def _shape(self, i: int) -> ToolSemantics:
        return self.g.shapes[self.g.walk.steps[i].tool]

    def _known(self, i: int, arg: str) -> bool:
        """Whether the user can name step i's argument by value: a fact, or a fact handed straight on."""
        if (i, arg) in self.g.facts:
            return True
        feed = self.g.walk.steps[i].feeds.get(arg)
        value = self.g.calls[i]["arguments"].get(arg)
        return feed is not None and any(k == feed[0] and v == value for (k, _), v in self.g.facts.items())

    def _value_phrase(self, i: int, arg: str) -> str:
        """The user's way of naming step i's argument: the value itself, or where it comes from."""
        if self._known(i, arg):
            return fact_text(self.g.calls[i]["arguments"][arg])
        j, column = self.g.walk.steps[i].feeds[arg]
        src = self._shape(j)
        table = self.g.spec.table(src.output_table)
        if column == table.primary_key:
            return self.entity(j)
        if any(fk.column == column for fk in table.foreign_keys):
            return f"the {column_noun(column)} of {self.entity(j)}"
        return f"the same {humanize(column)} as {self.entity(j)}"

    def _conditions(self, i: int) -> list[str]:
        shape, call = self._shape(i), self.g.calls[i]
        conds = []
        for arg in call["arguments"]:
            use = shape.primary_use(arg)
            if use is None or use.role != "filter" or not use.column:
                continue
            col = humanize(use.column)
            if (i, arg) not in self.g.facts:
                phrase = self._value_phrase(i, arg)
                conds.append(f"for {column_noun(use.column)} {phrase}" if self._known(i, arg) else f"for {phrase}")
                continue
            val = self._value_phrase(i, arg)
            conds.append({
                "contains": f"whose {col} mentions '{val}'",
                "ne": f"whose {col} is not {val}",
                "lt": f"with {col} below {val}",
                "le": f"with {col} of at most {val}",
                "gt": f"with {col} above {val}",
                "ge": f"with {col} of at least {val}",
            }.get(use.op, f"with {col} {val}"))
        # "with status pending and customer C-1" rather than "with ... and with ..."
        return [c.removeprefix("with ") if k and c.startswith("with ") and conds[k - 1].startswith(("with ", "status")) else c
                for k, c in enumerate(conds)]

    def entity(self, i: int) -> str:
        """A phrase for the row step i's result is about ("order O-1003", "the new booking")."""
        shape = self._shape(i)
        table = noun(shape.output_table)
        if shape.kind == "insert":
            return f"the new {table}"
        if shape.output_is_list:
            conds = self._conditions(i)
            return f"the {table} " + _join(conds) if conds else f"the {table}"
        key = shape.key_arg()
        if key is None or key not in self.g.calls[i]["arguments"]:
            return f"the {table}"
        if (i, key) in self.g.facts:
            return f"{table} {self._value_phrase(i, key)}"
        j, column = self.g.walk.steps[i].feeds[key]
        src = self._shape(j)
        if src.output_table == shape.output_table:
            return self.entity(j)
        return f"the {table} of {self.entity(j)}"

    # -- sentences ------------------------------------------------------------------------------

    def _verb_at(self, i: int) -> tuple[int, str] | None:
        """Where the tool name says what it does, when that says more than the operation's kind.
        A name made of the HTTP method and the path (`post_ips_cancel_warmup_json`) is read past
        its method: the path's verb says what it does."""
        words = split_words(self._shape(i).name)
        start = 1 if len(words) > 2 and words[0] in _HTTP_METHODS else 0
        for k, word in enumerate(words[start:], start):
            if word in _GENERIC_VERBS:
                return None
            if word in _ACTION_VERBS:
                # Phrasal verbs keep their particle: check in, sign up, pay off.
                if k + 1 < len(words) and words[k + 1] in _PARTICLES:
                    return k + 1, f"{word} {words[k + 1]}"
                return k, word
        return None

    def _object_of_verb(self, i: int) -> str | None:
        """What the name's action verb acts on when that is not the record itself (`warmup` in
        `post_ips_cancel_warmup_json` on an ip); None when the verb names the record or nothing."""
        found = self._verb_at(i)
        words = split_words(self._shape(i).name)
        table_words = {singular(w) for w in self._shape(i).table.split("_")}
        rest = [w for w in words[found[0] + 1:] if w not in _FORMAT_WORDS] if found else []
        if not rest or singular(rest[0]) in table_words or rest[0] in _PARTICLES:
            return None
        return humanize(rest[0])

    def _verb(self, i: int) -> str | None:
        found = self._verb_at(i)
        return found[1] if found else None

    def _details(self, i: int, skip: set[str]) -> list[tuple[str, str]]:
        """(label, value phrase) for the arguments a write sentence has not yet said."""
        shape, call = self._shape(i), self.g.calls[i]
        parts = []
        for arg in call["arguments"]:
            if arg in skip or self._reference_table(i, arg):
                continue
            use = shape.primary_use(arg)
            label = humanize(use.column) if use is not None and use.column and use.role in ("set", "value") else humanize(arg)
            parts.append((label, self._value_phrase(i, arg)))
        return parts

    def _reference_table(self, i: int, arg: str) -> str | None:
        """The table an argument names a row of (a key, or a foreign key of a new row)."""
        use = self._shape(i).primary_use(arg)
        if use is None:
            return None
        if use.role == "key":
            return use.table
        if use.role == "value" and use.column:
            table = self.g.spec.table(use.table)
            for fk in table.foreign_keys:
                if fk.column == use.column:
                    return fk.ref_table
        return None

    def _references(self, i: int, skip: set[str]) -> list[tuple[str, str]]:
        """(argument, 'customer C-1004' / 'the product of order O-1001') for the rows a write names."""
        out = []
        for arg in self.g.calls[i]["arguments"]:
            table = self._reference_table(i, arg)
            if table is None or arg in skip:
                continue
            if self._known(i, arg):
                out.append((arg, f"{noun(table)} {self._value_phrase(i, arg)}"))
            else:
                out.append((arg, self._value_phrase(i, arg)))
        return out

    def _action(self, i: int) -> str:
        """The verb with what it acts on: `place_order` -> 'place an order', else the table's noun."""
        words = split_words(self._shape(i).name)
        found = self._verb_at(i)
        if found is None:
            return f"update the {noun(self._shape(i).table)}"
        k, verb = found
        after = [humanize(w) for w in words[k + 1:]]
        if not 1 <= len(after) <= 2 or any(w in _GENERIC_VERBS for w in after):
            after = noun(self._shape(i).table).split()
        if singular(after[-1]) == after[-1]:
            article = "an" if after[0][:1].lower() in "aeiou" else "a"
            return f"{verb} {article} {' '.join(after)}"
        return f"{verb} {' '.join(after)}"

    def _amount(self, i: int) -> tuple[str, str, str] | None:
        """(argument, value phrase, 'add'|'sub') of the amount a write moves, when there is one."""
        shape = self._shape(i)
        for arg in self.g.calls[i]["arguments"]:
            use = shape.primary_use(arg)
            if use is None or use.role != "arith" or use.arith not in ("add", "sub") or not use.column:
                continue
            # Money moves ("deposit 40 into account A-1"); counts (stock, seats) stay plain details.
            column = self.g.spec.table(use.table).column(use.column)
            if column is not None and column.type == "number":
                return arg, self._value_phrase(i, arg), use.arith
        return None

    def write_sentence(self, i: int, opener: str) -> str:
        """One request sentence (a question when the opener asks), then its details as short sentences."""
        shape, call = self._shape(i), self.g.calls[i]
        clause, details = self._write_clause(i, shape, call)
        end = "?" if opener.startswith(("Can you", "Could you")) or opener.endswith("can you") else "."
        extra = "".join(f" {_cap(label)}: {value}." for label, value in details)
        return f"{opener} {clause}{end}{extra}"

    def _write_clause(self, i: int, shape: ToolSemantics, call: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
        verb = self._verb(i)
        table = noun(shape.table)
        key = shape.key_arg()
        keyed = shape.kind in ("update", "delete") and key is not None and key in call["arguments"]
        amount = self._amount(i)
        keyed_plain = keyed and not (amount and verb)
        refs = self._references(i, {key} if keyed_plain and key else set())
        if shape.kind == "insert" and verb is None:
            listed = [_with(label, value) for label, value in self._details(i, set())]
            what = f"{self.rng.choice(['add', 'create'])} a new {table}" + _for(refs)
            return what + (f" with {_join(listed)}" if listed else ""), []
        if keyed_plain:
            target = self.entity_of_key(i, key or "")
            details = self._details(i, {key or ""})
            if shape.kind == "update" and verb is None:
                changes = [f"the {label} to {value}" for label, value in details]
                return (f"change {target}: set {_join(changes)}" if changes else f"update {target}"), []
            thing = self._object_of_verb(i)
            # "reschedule slot SLO-1 for appointment APP-2": the object is already named by a reference.
            if thing and any(phrase.startswith((f"{thing} ", f"the {thing} ")) for _, phrase in refs):
                thing = None
            if verb and thing:
                # `cancel_warmup` on an ip: "cancel the warmup of ip IP-1003", not "cancel ip IP-1003".
                return f"{verb} the {thing} of {target}" + _for(refs), details
            return f"{verb or 'remove'} {target}" + _for(refs), details
        # Sequences and named writes: the action, the rows it names, the amount it moves, its details.
        if verb is None:
            listed = [_with(label, value) for label, value in self._details(i, set())]
            words = split_words(shape.name)
            # "change the fare for booking BK-1 to fare FA-2": a short name reads as plain English.
            action = (f"{words[0]} the {' '.join(humanize(w) for w in words[1:])}"
                      if 2 <= len(words) <= 3 and words[0] in _GENERIC_VERBS else f"update the {table}")
            return action + _for(refs) + (f" with {_join(listed)}" if listed else ""), []
        words = split_words(shape.name)
        found = self._verb_at(i)
        object_noun = singular(words[found[0] + 1]) if found and found[0] + 1 < len(words) else None
        if amount is not None:
            arg, value, direction = amount
            skip = {arg} | {a for a, _ in refs}
            parts = [f"{verb} {value}"]
            for ref_arg, phrase in refs:
                default = "into" if direction == "add" else "from"
                parts.append(f"{_preposition(ref_arg) or default} {phrase}")
            return " ".join(parts), self._details(i, skip)
        # "book fare FA-1 for passenger PA-2": the row the action is named after comes first.
        named = next((r for r in refs if object_noun and r[1].startswith((f"{object_noun} ", f"the {object_noun} "))), None)
        if named is not None:
            rest = [r for r in refs if r is not named]
            clause = f"{verb} {named[1]}" + _for(rest)
        else:
            clause = self._action(i) + _for(refs)
        details = self._details(i, set())
        if len(details) > 1:
            return clause + f" with {_join([_with(label, value) for label, value in details])}", []
        return clause, details

    def entity_of_key(self, i: int, key: str) -> str:
        table = noun(self._shape(i).table)
        if self._known(i, key):
            return f"{table} {self._value_phrase(i, key)}"
        j, column = self.g.walk.steps[i].feeds[key]
        src = self._shape(j)
        if src.output_table == self._shape(i).table and column == self.g.spec.table(src.output_table).primary_key:
            return self.entity(j)
        phrase = self._value_phrase(i, key)
        return phrase if phrase.startswith(f"the {table} ") else f"the {table} that is {phrase}"

    def read_sentence(self, last: int, opener: str | None = None) -> str:
        shape = self._shape(last)
        fields = _join([field_label(f) for f in self.g.asked.get(last, [])])
        opener = opener or self.rng.choice(_READ_OPENERS)
        if shape.output_is_list:
            conds = self._conditions(last)
            which = f"which {nouns(shape.output_table)} there are" + (f" {_join(conds)}" if conds else "")
            return f"{opener} {which}? I need the {fields} of each."
        return f"{opener} the {fields} of {self.entity(last)}?"

    def conditional_sentence(self, i: int, column: str, value: Any, first: bool) -> str:
        """The write, asked for only when the record's column has `value`; otherwise a question.

        ("If the status of order O-1 is pending, please cancel it. ... Otherwise, just tell me its status.")"""
        shape, call = self._shape(i), self.g.calls[i]
        clause, details = self._write_clause(i, shape, call)
        key = shape.key_arg()
        subject = self.entity_of_key(i, key) if key and key in call["arguments"] else f"the {noun(shape.table)}"
        lead = "" if first else self.rng.choice(["Also, ", "And "])
        extra = "".join(f" {_cap(label)}: {value_}." for label, value_ in details)
        otherwise = f" Otherwise, just tell me its {field_label(column)}."
        if self.g.otherwise is not None:
            alt_clause, alt_details = self._otherwise_clause(i)
            alt_extra = "".join(f" {_cap(label)}: {value_}." for label, value_ in alt_details)
            otherwise = f" Otherwise, please {alt_clause} instead.{alt_extra}"
        return (f"{lead}{'I' if not lead else 'i'}f the {field_label(column)} of {subject} is {fact_text(value)}, "
                f"please {clause}.{extra}{otherwise}")

    def _otherwise_clause(self, i: int) -> tuple[str, list[tuple[str, str]]]:
        """The `otherwise` change in the words of a write at step i: the walk with its last step
        swapped for that change (the record's key fed the same way), told by a writer of its own."""
        assert self.g.otherwise is not None
        call, result = self.g.otherwise
        alt = self.g.shapes[call["name"]]
        step = self.g.walk.steps[i]
        key, alt_key = self._shape(i).key_arg(), alt.key_arg()
        feeds = {alt_key: step.feeds[key]} if key in step.feeds and alt_key else {}
        swapped = replace(
            self.g, walk=Walk([*self.g.walk.steps[:i], WalkStep(call["name"], feeds)], self.g.walk.intents),
            calls=[*self.g.calls[:i], call], results=[*self.g.results[:i], result],
            facts={**{k: v for k, v in self.g.facts.items() if k[0] != i},
                   **{(i, arg): v for arg, v in self.g.otherwise_facts().items()}},
            condition=None, otherwise=None)
        return GoalWriter(swapped, self.rng)._write_clause(i, alt, call)

    def write(self) -> str:
        """One sentence per thing the user wants, in order: what they want, not how it is done."""
        sentences: list[str] = []
        for n, intent in enumerate(self.g.walk.intents):
            if intent.kind == "read":
                opener = None if n == 0 else self.rng.choice(_MORE_READ_OPENERS)
                sentences.append(self.read_sentence(intent.last, opener))
                continue
            writes = [i for i in intent.steps if not self._shape(i).read_only]
            for k, i in enumerate(writes):
                if self.g.condition is not None and self.g.condition[0] == i:
                    _, column, value = self.g.condition
                    sentences.append(self.conditional_sentence(i, column, value, first=not sentences))
                    continue
                opener = (self.rng.choice(_WRITE_OPENERS) if not sentences
                          else "Then I'd like to" if k else self.rng.choice(_MORE_WRITE_OPENERS))
                sentences.append(self.write_sentence(i, opener))
        return " ".join(sentences)


def _with(label: str, value: str) -> str:
    """'shipping address 12 Oak Street'; a looked-up value already says what it is."""
    return value if value.startswith("the same ") else f"{label} {value}"


def _preposition(arg: str) -> str | None:
    first = (split_words(arg) or [""])[0]
    if first in ("from", "source", "src", "sender", "debit"):
        return "from"
    if first in ("to", "destination", "dest", "target", "recipient", "beneficiary", "credit", "new"):
        return "to"
    return None


def _for(refs: list[tuple[str, str]]) -> str:
    """' from account A-1 to account A-2' / ' for customer C-1 and product P-2'."""
    if not refs:
        return ""
    directed = [(p, phrase) for arg, phrase in refs if (p := _preposition(arg))]
    plain = [phrase for arg, phrase in refs if not _preposition(arg)]
    text = "".join(f" {p} {phrase}" for p, phrase in directed)
    return text + (f" for {_join(plain)}" if plain else "")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def user_facts(goal: GoalInput) -> dict[str, Any]:
    """The facts keyed by argument name; a name used twice with different values gets a suffix."""
    facts: dict[str, Any] = {}
    # The `otherwise` change's values come after the walk's (a step index past its last).
    stated = {**goal.facts, **{(len(goal.calls), arg): v for arg, v in goal.otherwise_facts().items()}}
    for (_, arg), value in sorted(stated.items()):
        name, n = arg, 2
        while name in facts and facts[name] != value:
            name = f"{arg}_{n}"
            n += 1
        facts[name] = value
    return facts


def compose_goal(goal: GoalInput, rng: random.Random) -> tuple[str, dict[str, Any]]:
    """The goal text and the user's facts; any fact the templates left out is appended verbatim."""
    text = GoalWriter(goal, rng).write().strip()
    facts = user_facts(goal)
    missing = [(k, v) for k, v in facts.items() if fact_text(v) not in text]
    if missing:
        text += " For reference: " + "; ".join(f"{humanize(k)} {fact_text(v)}" for k, v in missing) + "."
    return text, facts
