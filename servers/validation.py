"""JSON Schema validation of tool arguments and tool results: the one validator of the project.

An argument validator says, in words a model can act on, why a call's arguments do not fit the
tool's `input_schema` (unknown arguments first, then the schema), or None when they fit.
fastjsonschema compiles a schema into fast code, worth it for a server answering many calls;
jsonschema describes a failure more precisely and knows every dialect, so it always writes the
message and stands in when a schema cannot be compiled. A caller that calls each tool only once
or twice (the quality gate) asks for the uncompiled validator: there compiling costs more than
the calls.

`ToolValidators` holds one runtime's validators, built on first use (compiling every schema up
front would slow a hub's start) with the mode its owner chose when it built the runtime.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import fastjsonschema
import jsonschema

from servers.spec import ToolSpec

# The arguments -> why they do not fit (None when they do).
ArgumentValidator = Callable[[dict], str | None]
# A tool result -> why it breaks the tool's output_schema (None when it does not).
OutputValidator = Callable[[Any], str | None]


def _compile(schema: dict[str, Any]) -> Callable[[Any], Any] | None:
    try:
        return fastjsonschema.compile(schema, use_default=False)  # never write defaults into the caller's data
    except Exception:  # a dialect fastjsonschema does not know (e.g. 2020-12 keywords)
        return None


def argument_validator(tool: ToolSpec, *, compiled: bool = True) -> ArgumentValidator:
    """A validator of `tool`'s arguments; `compiled=False` uses jsonschema alone (nothing is compiled)."""
    schema = tool.input_schema
    properties = schema.get("properties", {})
    extra_allowed = schema.get("additionalProperties", False) is not False
    fast = _compile(schema) if compiled else None
    checker = jsonschema.validators.validator_for(schema)(schema)

    def validate(arguments: dict) -> str | None:
        if not extra_allowed:
            unknown = sorted(set(arguments) - set(properties))
            if unknown:
                takes = ", ".join(sorted(properties)) or "no arguments"
                return (f"unknown argument(s) {', '.join(repr(u) for u in unknown)} for tool "
                        f"'{tool.name}'; it takes: {takes}")
        if fast is not None:
            try:
                fast(arguments)
                return None
            except fastjsonschema.JsonSchemaException:
                pass  # describe the problem with jsonschema's more precise message below
        error = jsonschema.exceptions.best_match(checker.iter_errors(arguments))
        if error is None:
            return None
        where = ".".join(str(p) for p in error.absolute_path)
        if where:
            return f"invalid argument '{where}' for tool '{tool.name}': {error.message}"
        return f"invalid arguments for tool '{tool.name}': {error.message}"

    return validate


def output_validator(schema: dict[str, Any]) -> OutputValidator | None:
    """A validator of results against `schema`, or None when fastjsonschema cannot compile it
    (then the client, which knows its own dialect, is left to judge)."""
    check = _compile(schema)
    if check is None:
        return None

    def validate(data: Any) -> str | None:
        try:
            check(data)
        except fastjsonschema.JsonSchemaException as err:
            return str(err.message)
        return None

    return validate


class ToolValidators:
    """The argument and output validators of one environment's tools, built on first use."""

    def __init__(self, *, compiled: bool = True) -> None:
        self.compiled = compiled
        self._arguments: dict[str, ArgumentValidator] = {}
        self._outputs: dict[str, OutputValidator | None] = {}
        self._lock = threading.Lock()

    def arguments(self, tool: ToolSpec) -> ArgumentValidator:
        validator = self._arguments.get(tool.name)
        if validator is None:
            validator = argument_validator(tool, compiled=self.compiled)
            with self._lock:
                validator = self._arguments.setdefault(tool.name, validator)
        return validator

    def output(self, tool: ToolSpec) -> OutputValidator | None:
        """The output validator of `tool`; None without an output_schema or when it cannot be compiled."""
        if tool.output_schema is None:
            return None
        if tool.name not in self._outputs:
            validator = output_validator(tool.output_schema)
            with self._lock:
                self._outputs.setdefault(tool.name, validator)
        return self._outputs[tool.name]
