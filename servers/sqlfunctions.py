"""SQL functions envhub registers on every episode connection, for programs to call.

They are pure functions of their arguments (deterministic, no access to the database or the
outside world), so a program that calls them stays a replayable function of the episode state.
"""

from __future__ import annotations

import json
import sqlite3

from servers.seedgen import next_key_number

NEXT_ID_FUNCTION = "envhub_next_id"


def next_id(prefix: str | None, existing_keys_json: str | None) -> str | None:
    """envhub_next_id('O-', (SELECT json_group_array(order_id) FROM orders)) -> 'O-1012':
    the number after the largest existing f"{prefix}<number>" key (1001 when there is none)."""
    if prefix is None:
        return None
    try:
        keys = json.loads(existing_keys_json) if existing_keys_json else []
    except (TypeError, ValueError):
        keys = []
    if not isinstance(keys, list):
        keys = []
    return f"{prefix}{next_key_number(keys, str(prefix))}"


# name -> (number of arguments, implementation)
FUNCTIONS = {NEXT_ID_FUNCTION: (2, next_id)}


def install(conn: sqlite3.Connection) -> None:
    """Register the functions once per connection (re-registering would expire cached statements)."""
    for name, (nargs, fn) in FUNCTIONS.items():
        conn.create_function(name, nargs, fn, deterministic=True)
