"""JSONL files of contract records: read with `file:line: field: problem` errors, write atomically.

Lines are split on newlines only (not `str.splitlines`, which also splits on U+2028 and other
separators that `ensure_ascii=False` leaves inside JSON strings). Blank lines are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from .base import Contract, ContractError

M = TypeVar("M", bound=Contract)


@dataclass(frozen=True)
class Located(Generic[M]):
    """A valid line: its record, where it came from (`file:line`) and its text as written."""

    where: str
    number: int
    text: str
    record: M


@dataclass(frozen=True)
class Rejected:
    """A line that is not a valid record, with the reason (`file:line: field: problem`)."""

    where: str
    number: int
    text: str
    error: ContractError


def scan_jsonl(path: str | Path, model: type[M]) -> Iterator[Located[M] | Rejected]:
    """Every non-blank line of `path`, parsed as `model`; a bad line is yielded as Rejected, not raised.

    For readers that skip what they cannot use (the hub, resuming a run). Raises ContractError
    only when the file itself cannot be read.
    """
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8")
    except OSError as err:
        raise ContractError(f"{path}: cannot read: {err.strerror or err}") from None
    with handle:
        try:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                where = f"{path}:{number}"
                text = raw.rstrip("\r\n")
                try:
                    yield Located(where, number, text, model.from_line(text, where))
                except ContractError as err:
                    yield Rejected(where, number, text, err)
        except UnicodeDecodeError as err:
            raise ContractError(f"{path}: not UTF-8 text: {err.reason} at byte {err.start}") from None


def read_jsonl(path: str | Path, model: type[M]) -> list[Located[M]]:
    """Every record of `path`; the first bad line raises ContractError naming the file, line and field."""
    located: list[Located[M]] = []
    for line in scan_jsonl(path, model):
        if isinstance(line, Rejected):
            raise line.error
        located.append(line)
    return located


def write_jsonl(path: str | Path, records: Iterable[Contract]) -> Path:
    """Write one record per line, atomically: a crash leaves the previous file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(record.to_line() + "\n")
    os.replace(tmp, path)
    return path
