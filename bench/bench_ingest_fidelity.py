"""Does a full build keep the API and not the transport? `envhub synth` on the 567-spec archive, then
counts in the built EnvSpecs:

- transport/auth columns: table columns named after a transport parameter of the environment's
  own source specs (any header or cookie parameter, an apiKey security parameter, or a query /
  form parameter named on the issue's list: `key`, `prettyPrint`, `alt`, `fields`, `oauth_token`,
  `X-Amz-*`, ...); again without the columns whose name the spec also gives to a schema property
  or a path parameter (those may be that data: a Lambda function's `version`); and the same
  count for tool input arguments;
- paging/ordering parameters turned into filters: find filters whose argument is a page size,
  offset, page, cursor, sort field or sort direction;
- columns in total, and the per-reason drop counts report.json's `ingest` section gives.

The counting rules read the raw specs and the built files only; they share no code with ingest,
so a build made by older code (`--code /path/to/old/checkout`) is counted the same way.

    .venv/bin/python bench/bench_ingest_fidelity.py [--archive PATH] [--code DIR] [--build DIR]
        [--out JSON] [--workers N]

`--code` runs the build with that checkout first on PYTHONPATH (the counting runs with this one);
`--build DIR` keeps the build there, or counts the build already there without making one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE = Path("/work/shared/data/openapi-directory-lite.tar.gz")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Query/form parameters the issue names as transport, by their letters only.
NAMED_TRANSPORT = {
    "key", "apikey", "accesstoken", "oauthtoken", "bearertoken", "authtoken", "prettyprint", "pp", "alt",
    "fields", "callback", "jsonp", "uploadprotocol", "uploadtype", "quotauser", "userip", "xgafv",
    "apiversion", "signature", "signaturemethod", "signatureversion", "awsaccesskeyid", "useragent",
}
PAGING = {
    "limit", "maxresults", "pagesize", "perpage", "maxitems", "maxrecords", "top", "offset", "skip",
    "startindex", "page", "pagenumber", "pagetoken", "nexttoken", "nextpagetoken", "cursor", "marker",
    "continuationtoken", "sort", "sortby", "orderby", "sortorder", "sortdirection", "sortfield",
}
# Names that are paging/ordering only when their schema says so.
AMBIGUOUS = {"order", "direction", "count", "size", "start", "max"}
_DIRECTIONS = {"asc", "desc", "ascending", "descending"}
_SIZE_TEXT = re.compile(r"number of (results|items|records|entries|rows)|per page|page size|to return", re.I)


def flat(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def spec_data_names(doc: dict[str, Any]) -> set[str]:
    """Letters-only names the spec also uses for data: properties of its schemas, path parameters.
    A column with such a name may be that data (a Lambda function's `version`, an SSH `key`)."""
    names: set[str] = set()
    schemas = dict(doc.get("definitions") or {})
    schemas.update((doc.get("components") or {}).get("schemas") or {})
    stack: list[Any] = list(schemas.values())
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                names.update(flat(str(name)) for name in props)
            stack.extend(value for value in node.values() if isinstance(value, dict | list))
        elif isinstance(node, list):
            stack.extend(node)
    for item in (doc.get("paths") or {}).values():
        for method in HTTP_METHODS if isinstance(item, dict) else ():
            for param in (item.get(method) or {}).get("parameters") or [] if isinstance(item.get(method), dict) else []:
                if isinstance(param, dict) and param.get("in") == "path" and isinstance(param.get("name"), str):
                    names.add(flat(param["name"]))
    return names


def spec_transport_names(doc: dict[str, Any]) -> set[str]:
    """Letters-only names of one spec's transport parameters, by the rule in the module doc."""
    names: set[str] = set()
    schemes = doc.get("securityDefinitions") or (doc.get("components") or {}).get("securitySchemes") or {}
    for scheme in schemes.values() if isinstance(schemes, dict) else []:
        if isinstance(scheme, dict) and scheme.get("type") == "apiKey" and isinstance(scheme.get("name"), str):
            names.add(flat(scheme["name"]))
    params: list[Any] = []
    if isinstance(doc.get("parameters"), dict):
        params += list(doc["parameters"].values())
    if isinstance((doc.get("components") or {}).get("parameters"), dict):
        params += list(doc["components"]["parameters"].values())
    for item in (doc.get("paths") or {}).values():
        if not isinstance(item, dict):
            continue
        params += item.get("parameters") or []
        for method in HTTP_METHODS:
            if isinstance(item.get(method), dict):
                params += item[method].get("parameters") or []
    for param in params:
        if not isinstance(param, dict) or not isinstance(param.get("name"), str):
            continue
        where, name = param.get("in"), flat(param["name"])
        if where in ("header", "cookie") or name.startswith("xamz") or where in ("query", "formData") and name in NAMED_TRANSPORT:
            names.add(name)
    return names


def read_specs(archive: Path) -> dict[str, tuple[set[str], set[str]]]:
    """{member name: (transport names, data names)} for every spec in the archive."""
    out: dict[str, tuple[set[str], set[str]]] = {}
    with tarfile.open(archive, mode="r|*") as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith((".json", ".yaml", ".yml")):
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            data = handle.read()
            try:
                doc = json.loads(data) if member.name.endswith(".json") else yaml.safe_load(data)
            except (ValueError, yaml.YAMLError):
                continue
            if isinstance(doc, dict):
                out[member.name] = (spec_transport_names(doc), spec_data_names(doc))
    return out


def is_paging_argument(name: str, schema: dict[str, Any]) -> bool:
    key = flat(name)
    if key in PAGING:
        return True
    if key not in AMBIGUOUS:
        return False
    enum = {str(v).lower() for v in schema.get("enum") or []}
    text = str(schema.get("description") or "")
    if key in ("order", "direction"):
        return bool(enum) and enum <= _DIRECTIONS or bool(re.search(r"\basc(ending)?\b", text, re.I))
    return schema.get("type") in ("integer", "number") and bool(_SIZE_TEXT.search(text))


def find_ops(operation: dict[str, Any]) -> list[dict[str, Any]]:
    if operation.get("kind") == "sequence":
        return [step["op"] for step in operation.get("steps", []) if step["op"].get("kind") == "find"]
    return [operation] if operation.get("kind") == "find" else []


def count_build(build: Path, specs: dict[str, tuple[set[str], set[str]]]) -> dict[str, Any]:
    columns = transport_columns = transport_arguments = arguments = paging_filters = tables = 0
    not_data = 0
    examples: Counter[str] = Counter()
    filter_examples: Counter[str] = Counter()
    for path in sorted((build / "envs").glob("*.json")):
        env = json.loads(path.read_text())
        transport: set[str] = set()
        data: set[str] = set()
        for source in env.get("source", []):
            names, fields = specs.get(source.split("::", 1)[-1], (set(), set()))
            transport |= names
            data |= fields
        for table in env["tables"]:
            tables += 1
            for column in table["columns"]:
                columns += 1
                if flat(column["name"]) in transport:
                    transport_columns += 1
                    examples[column["name"]] += 1
                    not_data += flat(column["name"]) not in data
        for tool in env["tools"]:
            props = tool["input_schema"].get("properties", {})
            arguments += len(props)
            transport_arguments += sum(1 for name in props if flat(name) in transport)
            for op in find_ops(tool["operation"]):
                for item in op.get("filters", []):
                    arg = item.get("value", {}).get("arg")
                    if isinstance(arg, str) and is_paging_argument(arg, props.get(arg, {})):
                        paging_filters += 1
                        filter_examples[f"{env['name']}/{tool['name']}:{arg}"] += 1
    report = json.loads((build / "report.json").read_text())
    return {
        "environments": len(list((build / "envs").glob("*.json"))),
        "tables": tables,
        "columns": columns,
        "transport_columns": transport_columns,
        "transport_columns_top": dict(examples.most_common(12)),
        # The same, less columns whose name the spec also gives a schema property or path parameter.
        "transport_columns_not_spec_data": not_data,
        "arguments": arguments,
        "transport_arguments": transport_arguments,
        "paging_filters": paging_filters,
        "paging_filter_examples": [name for name, _ in filter_examples.most_common(8)],
        "tools_ingested": report.get("tools_ingested"),
        "tools_kept": report.get("tools_kept"),
        "ingest": report.get("ingest"),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", type=Path, default=ARCHIVE)
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose envhub builds (default: this one)")
    parser.add_argument("--build", type=Path, default=None,
                        help="build folder to count (made first when it does not exist; default: a temporary one)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")
    args = parser.parse_args()
    if not args.archive.exists():
        print(f"archive not found: {args.archive}", file=sys.stderr)
        return 2
    seconds = cpu_seconds = None
    with tempfile.TemporaryDirectory(prefix="ingest-fidelity-") as scratch:
        build = args.build or Path(scratch) / "build"
        if not (build / "report.json").exists():
            command = [sys.executable, "-m", "hub.cli", "synth", "--out", str(build), "--no-progress",
                       str(args.archive)]
            if args.workers:
                command += ["--workers", str(args.workers)]
            env = {**os.environ, "PYTHONPATH": str(args.code.resolve())}
            started, cpu_before = time.perf_counter(), _children_cpu()
            subprocess.run(command, cwd=args.code, env=env, check=True, stdout=subprocess.DEVNULL)
            seconds = round(time.perf_counter() - started, 1)
            # CPU seconds of the build and its workers: comparable on a machine others share.
            cpu_seconds = round(_children_cpu() - cpu_before, 1)
        numbers = count_build(build, read_specs(args.archive))
    built_by = str(args.code) if seconds is not None else None  # None: an existing build was counted
    numbers = {"code": built_by, "build": str(args.build) if args.build else None, "synth_seconds": seconds,
               "synth_cpu_seconds": cpu_seconds, **numbers}
    text = json.dumps(numbers, indent=1)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
