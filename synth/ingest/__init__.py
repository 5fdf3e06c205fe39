"""Ingest API descriptions of any supported format into one list of uniquely named ToolDefs.

Formats (detected per file, or per archive member): OpenAI function/tool JSON, BFCL function
docs, ToolBench/RapidAPI tool files, OpenAPI 2.0/3.x (JSON or YAML), and MCP `tools/list`
dumps; a live MCP server is read with `ingest_mcp`. A file that cannot be read is skipped with
its reason and the rest continue; so is a single bad operation inside a good file.
"""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from synth.ingest.common import MAX_NAME_LENGTH, IngestError, sanitize_name
from synth.ingest.detect import SPEC_SUFFIXES, load_document, parse_bytes
from synth.ingest.mcp_live import ingest_mcp, ingest_mcp_async
from synth.ingest.stated_enums import tool_with_stated_enums
from synth.tooldef import ToolDef

__all__ = ["IngestError", "IngestResult", "ingest_mcp", "ingest_mcp_async", "ingest_paths", "unique_names"]

ProgressCallback = Callable[[int, int], None]
TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar")
ZIP_SUFFIXES = (".zip",)


@dataclass
class IngestResult:
    """The tools of one ingest run, in a stable order, plus every skipped file/item with its reason."""

    tools: list[ToolDef] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    files_read: int = 0


def ingest_paths(paths: list[str | Path], progress: ProgressCallback | None = None) -> IngestResult:
    """Read files, directories (recursively) and .tar.gz/.tgz/.zip archives (in memory).

    `progress(done, total)` is called after each file or archive member. Tool names are made
    unique across the whole run (see `unique_names`).
    """
    result = IngestResult()
    units = list(_enumerate_units([Path(p) for p in paths], result.skipped))
    total = sum(count for _, count in units)
    done = 0
    for producer, _ in units:
        for label, name, data in producer():
            if isinstance(data, IngestError):
                result.skipped.append((label, str(data)))
            else:
                _ingest_bytes(data, label, name, result)
            done += 1
            if progress is not None:
                progress(done, total)
    # Values a description lists ("Possible values are ...") become the schema's enum.
    result.tools = unique_names([tool_with_stated_enums(tool) for tool in result.tools])
    return result


# A unit yields (label for messages, member/file name, bytes or the error that stopped reading it).
_Item = tuple[str, str, "bytes | IngestError"]


def _enumerate_units(
    paths: list[Path], skipped: list[tuple[str, str]]
) -> Iterator[tuple[Callable[[], Iterator[_Item]], int]]:
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not _is_hidden(p.relative_to(path)))
            for file in files:
                if _is_archive(file):
                    yield from _archive_units(file, skipped)
                elif file.suffix.lower() in SPEC_SUFFIXES:
                    yield _file_unit(file), 1
                else:
                    skipped.append(
                        (str(file), f"not an API description file (suffix {file.suffix or 'none'!r})")
                    )
        elif path.is_file():
            if _is_archive(path):
                yield from _archive_units(path, skipped)
            else:
                yield _file_unit(path), 1
        else:
            skipped.append((str(path), "no such file or directory"))


def _is_hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _is_archive(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(TAR_SUFFIXES) or name.endswith(ZIP_SUFFIXES)


def _file_unit(path: Path) -> Callable[[], Iterator[_Item]]:
    def produce() -> Iterator[_Item]:
        try:
            yield str(path), path.name, path.read_bytes()
        except OSError as err:
            yield str(path), path.name, IngestError(f"cannot read file: {err.strerror or err}")

    return produce


def _archive_units(
    path: Path, skipped: list[tuple[str, str]]
) -> Iterator[tuple[Callable[[], Iterator[_Item]], int]]:
    """One unit per archive: members are counted first (cheap) so progress has a total."""
    try:
        count = len(_archive_member_names(path))
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as err:
        skipped.append((str(path), f"cannot read archive: {err}"))
        return
    yield (lambda: _archive_members(path)), count


def _archive_member_names(path: Path) -> list[str]:
    if path.name.lower().endswith(ZIP_SUFFIXES):
        with zipfile.ZipFile(path) as archive:
            return [
                info.filename for info in archive.infolist() if _wanted_member(info.filename, info.is_dir())
            ]
    # Streaming mode ("r|*") reads the archive once, front to back, without seeking.
    with tarfile.open(path, mode="r|*") as archive:
        return [member.name for member in archive if _wanted_member(member.name, not member.isfile())]


def _wanted_member(name: str, is_dir: bool) -> bool:
    member = PurePosixPath(name)
    return (
        not is_dir
        and member.suffix.lower() in SPEC_SUFFIXES
        and not any(part.startswith(".") or part == "__MACOSX" for part in member.parts)
    )


def _archive_members(path: Path) -> Iterator[_Item]:
    if path.name.lower().endswith(ZIP_SUFFIXES):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if _wanted_member(info.filename, info.is_dir()):
                    label = f"{path}::{info.filename}"
                    try:
                        yield label, info.filename, archive.read(info)
                    except (OSError, zipfile.BadZipFile, RuntimeError) as err:
                        yield label, info.filename, IngestError(f"cannot read archive member: {err}")
        return
    with tarfile.open(path, mode="r|*") as archive:
        for member in archive:
            if not _wanted_member(member.name, not member.isfile()):
                continue
            label = f"{path}::{member.name}"
            handle = archive.extractfile(member)
            if handle is None:
                yield label, member.name, IngestError("archive member has no data")
                continue
            yield label, member.name, handle.read()


def _ingest_bytes(data: bytes, label: str, name: str, result: IngestResult) -> None:
    result.files_read += 1
    try:
        doc = parse_bytes(data, name)
        loaded = load_document(doc, label, api=PurePosixPath(name).stem)
    except IngestError as err:
        result.skipped.append((label, str(err)))
        return
    except RecursionError:
        result.skipped.append((label, "document nests too deeply to read"))
        return
    if not loaded.tools and not loaded.skipped:
        result.skipped.append((label, "no tools found (the document is empty of operations/functions)"))
    result.tools.extend(loaded.tools)
    result.skipped.extend(loaded.skipped)


def unique_names(tools: list[ToolDef]) -> list[ToolDef]:
    """Give every tool a unique name: the first keeps its own, a later clash gets its API as a
    prefix (`petstore_list_pets`), and a clash after that a counter (`petstore_list_pets_2`)."""
    taken: set[str] = set()
    out: list[ToolDef] = []
    for tool in tools:
        name = tool.name
        if name in taken:
            prefix = sanitize_name(tool.api or PurePosixPath(tool.source).stem, fallback="api").lower()
            room = MAX_NAME_LENGTH - len(name) - 1
            name = f"{prefix[:room]}_{name}" if room >= 3 else name
            base, counter = name, 2
            while name in taken:
                suffix = f"_{counter}"
                name = base[: MAX_NAME_LENGTH - len(suffix)] + suffix
                counter += 1
        taken.add(name)
        out.append(tool if name == tool.name else tool.model_copy(update={"name": name}))
    return out
