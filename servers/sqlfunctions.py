"""SQL functions envhub registers on every episode connection, for programs to call.

They are pure functions of their arguments (deterministic, no access to the database or the
outside world), so a program that calls them stays a replayable function of the episode state.
"""

from __future__ import annotations

import ast
import json
import operator
import re
import sqlite3

from servers.seedgen import FIRST_PREFIXED_NUMBER

NEXT_ID_FUNCTION = "envhub_next_id"


def next_id(prefix: str | None, existing_keys_json: str | None) -> str | None:
    """envhub_next_id('O-', (SELECT json_group_array(order_id) FROM orders)) -> 'O-1012':
    the number after the largest existing f"{prefix}<number>" key (1001 when there is none)."""
    if prefix is None:
        return None
    prefix = str(prefix)
    text = existing_keys_json if isinstance(existing_keys_json, str) else ""
    # A regex over the JSON text instead of parsing it and looping in Python: the same keys
    # (whole JSON strings made of the prefix and digits), about 20x faster on 1,000 keys.
    numbers = re.findall('"' + re.escape(json.dumps(prefix)[1:-1]) + r'([0-9]+)"', text)
    best = max((int(n) for n in numbers), default=FIRST_PREFIXED_NUMBER - 1)
    return f"{prefix}{max(best, FIRST_PREFIXED_NUMBER - 1) + 1}"


def python_round(value: float | int | None, digits: int | None = 0) -> float | int | None:
    """envhub_round(x, 2): Python's round() (correctly rounded, ties to even), where SQLite's
    round() can differ in the last digit; ported APIs written in Python round this way."""
    if value is None or digits is None:
        return None
    return round(value, int(digits))


_ARITH_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _arith(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _arith(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH_OPS:
        return _ARITH_OPS[type(node.op)](_arith(node.left), _arith(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        value = _arith(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    raise ValueError("not arithmetic")


def calculate(expression: str | None) -> str | None:
    """envhub_calculate('2 * (3 + 4.5)') -> '15.0': numbers, + - * / and parentheses only, the
    result rounded to 2 digits as text; NULL for anything else (division by zero included)."""
    if not isinstance(expression, str) or len(expression) > 500:
        return None
    if not all(ch in "0123456789+-*/(). " for ch in expression):
        return None
    try:
        return str(round(float(_arith(ast.parse(expression, mode="eval"))), 2))
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError):
        return None


def json_number(value: float | int | None) -> str | None:
    """json(envhub_json_number(x)): x as a JSON number with every digit, where SQLite's JSON
    functions print a REAL with 15 significant digits (0.04999999999999716 -> 0.0499999999999972)."""
    if value is None:
        return "null"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return json.dumps(value)
    return None


# name -> (number of arguments, implementation)
FUNCTIONS = {NEXT_ID_FUNCTION: (2, next_id), "envhub_round": (2, python_round), "envhub_calculate": (1, calculate),
             "envhub_json_number": (1, json_number)}


def install(conn: sqlite3.Connection) -> None:
    """Register the functions once per connection (re-registering would expire cached statements)."""
    for name, (nargs, fn) in FUNCTIONS.items():
        conn.create_function(name, nargs, fn, deterministic=True)
