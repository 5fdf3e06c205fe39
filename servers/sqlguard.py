"""A permanent, switchable authorizer on every episode connection.

`sqlite3.Connection.set_authorizer` expires every prepared statement of the connection, so
installing a policy per tool call would re-prepare (and re-authorize) each statement on every
call. Instead each connection gets one `Guard` at open time: it allows everything while no policy
is active (the hub's own statements) and defers to the active policy while a program runs. The
authorizer is consulted when a statement is prepared; program statements carry a marker suffix
(`PROGRAM_MARK`) so that they never share a cached prepared statement with the hub's own SQL, and
each is therefore prepared, and authorized, while the program policy is active.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

PROGRAM_MARK = "\n-- envhub:program"

Policy = Callable[[int, "str | None", "str | None", "str | None", "str | None"], int]


class Guard:
    __slots__ = ("policy",)

    def __init__(self) -> None:
        self.policy: Policy | None = None

    def __call__(self, action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None) -> int:
        policy = self.policy
        if policy is None:
            return sqlite3.SQLITE_OK
        return policy(action, arg1, arg2, db, source)


class GuardedConnection(sqlite3.Connection):
    """A connection with its `Guard` installed before any statement is prepared."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.guard = Guard()
        self.set_authorizer(self.guard)
