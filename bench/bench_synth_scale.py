"""Scale benchmark of environment synthesis, part 1: ingest + tool graph + domain partition.

Every measured stage runs in a fresh worker process, so its peak RSS is its own (peak minus the
RSS the worker had before the stage is reported as the stage's growth). Baselines measured in
the same run, on the same machine:

- ingest vs "just read": decompressing the archive and JSON-parsing every member, no tools built;
- blocked top-k graph vs the dense approach: the full n x n similarity matrix, then top-k per row;
- Leiden (leidenalg, the default) vs networkx Louvain for the partition.

    .venv/bin/python bench/bench_synth_scale.py                      # all sizes, writes out/bench/ingest-graph.md
    .venv/bin/python bench/bench_synth_scale.py --sizes 2000 4000    # quicker

The synthesis stage may add its own measurements; `run_worker` stages are plain functions.
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ARCHIVE = Path("/work/shared/data/openapi-directory-lite.tar.gz")
DEFAULT_OUT = REPO / "out" / "bench" / "ingest-graph.md"


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- stages (run inside a worker process) --------------------------------------------------


def stage_read(archive: str) -> dict[str, Any]:
    import orjson

    start = time.perf_counter()
    members = 0
    with tarfile.open(archive, mode="r|*") as tar:
        for member in tar:
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None and member.name.endswith(".json"):
                orjson.loads(handle.read())
                members += 1
    return {"seconds": time.perf_counter() - start, "files": members}


def stage_ingest(archive: str, dump: str | None) -> dict[str, Any]:
    from synth.ingest import ingest_paths

    start = time.perf_counter()
    result = ingest_paths([archive])
    seconds = time.perf_counter() - start
    if dump:
        with open(dump, "wb") as handle:
            pickle.dump(result.tools, handle)
    return {
        "seconds": seconds,
        "tools": len(result.tools),
        "skipped": len(result.skipped),
        "files": result.files_read,
    }


def _load_tools(path: str, n: int) -> list[Any]:
    with open(path, "rb") as handle:
        tools = pickle.load(handle)
    return tools[:n]


def stage_graph(tools_path: str, n: int, method: str) -> dict[str, Any]:
    from synth.graph import build_tool_graph, partition_domains

    tools = _load_tools(tools_path, n)
    if method == "leiden":
        # Import cost is paid once per process; keep it out of the partition's time.
        import igraph  # noqa: F401
        import leidenalg  # noqa: F401
    before = _rss_mb()
    start = time.perf_counter()
    graph = build_tool_graph(tools)
    graph_seconds = time.perf_counter() - start
    start = time.perf_counter()
    domains = partition_domains(graph, tools, method=method)
    partition_seconds = time.perf_counter() - start
    sizes = [len(domain.tools) for domain in domains]
    return {
        "graph_seconds": graph_seconds,
        "partition_seconds": partition_seconds,
        "edges": graph.graph.number_of_edges(),
        "domains": len(domains),
        "min_domain": min(sizes),
        "max_domain": max(sizes),
        "rss_before_mb": before,
    }


def stage_dense(tools_path: str, n: int, top_k: int = 8) -> dict[str, Any]:
    """The approach the blocked search replaces: materialize every pairwise similarity."""
    import numpy as np

    from synth.graph.vectorize import hashing_vectors

    tools = sorted(_load_tools(tools_path, n), key=lambda tool: tool.name)
    before = _rss_mb()
    start = time.perf_counter()
    vectors = hashing_vectors(tools)
    dense = vectors @ vectors.T
    np.fill_diagonal(dense, -np.inf)
    top = np.argsort(-dense, axis=1)[:, :top_k]
    return {
        "graph_seconds": time.perf_counter() - start,
        "neighbours": int(top.size),
        "rss_before_mb": before,
    }


def run_worker(stage: str, **kwargs: Any) -> dict[str, Any]:
    """Run one stage in a fresh interpreter; returns its result plus its peak RSS in MB."""
    command = [sys.executable, __file__, "--worker", stage, "--worker-args", json.dumps(kwargs)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
    if completed.returncode != 0:
        raise RuntimeError(f"worker {stage} {kwargs} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _worker_main(stage: str, raw_args: str) -> None:
    kwargs = json.loads(raw_args)
    functions = {"read": stage_read, "ingest": stage_ingest, "graph": stage_graph, "dense": stage_dense}
    result = functions[stage](**kwargs)
    result["peak_mb"] = _peak_mb()
    print(json.dumps(result))


# ---- driver ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", default=str(DEFAULT_ARCHIVE))
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000, 8000, 16000])
    parser.add_argument("--dense-sizes", type=int, nargs="*", default=[2000, 4000, 8000])
    parser.add_argument("--no-louvain", action="store_true", help="skip the networkx Louvain comparison")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-args", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker_main(args.worker, args.worker_args)
        return 0
    if not Path(args.archive).exists():
        print(f"archive not found: {args.archive}", file=sys.stderr)
        return 2

    lines: list[str] = []

    def emit(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    with tempfile.TemporaryDirectory() as tmp:
        dump = str(Path(tmp) / "tools.pkl")
        read = run_worker("read", archive=args.archive)
        ingest = run_worker("ingest", archive=args.archive, dump=dump)
        emit("### Ingest (567-spec OpenAPI archive)")
        emit()
        emit("| stage | files | tools | seconds | peak RSS MB | time vs baseline |")
        emit("|---|---:|---:|---:|---:|---:|")
        emit(
            f"| baseline: decompress + JSON-parse only | {read['files']} | - | {read['seconds']:.2f} | {read['peak_mb']:.0f} | 1.0x |"
        )
        emit(
            f"| `ingest_paths` (parse, resolve $refs, normalize, ToolDefs) | {ingest['files']} | {ingest['tools']} | "
            f"{ingest['seconds']:.2f} | {ingest['peak_mb']:.0f} | {ingest['seconds'] / read['seconds']:.1f}x |"
        )
        emit()
        sizes = [n for n in args.sizes if n <= ingest["tools"]] or [ingest["tools"]]
        rows = []
        for n in sizes:
            leiden = run_worker("graph", tools_path=dump, n=n, method="leiden")
            louvain = None if args.no_louvain else run_worker("graph", tools_path=dump, n=n, method="louvain")
            dense = run_worker("dense", tools_path=dump, n=n) if n in args.dense_sizes else None
            rows.append((n, leiden, louvain, dense))
        base_n, base = rows[0][0], rows[0][1]
        base_total = base["graph_seconds"] + base["partition_seconds"]
        emit("### Tool graph + partition (hashing vectorizer, blocked top-k, Leiden)")
        emit()
        emit(
            "| tools | edges | graph s | partition s | total s | time growth (tools growth) | "
            "RSS growth MB | domains (min-max size) | Louvain partition s | dense top-k s | dense RSS growth MB |"
        )
        emit("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n, leiden, louvain, dense in rows:
            total = leiden["graph_seconds"] + leiden["partition_seconds"]
            growth = leiden["peak_mb"] - leiden["rss_before_mb"]
            louvain_cell = f"{louvain['partition_seconds']:.2f}" if louvain else "-"
            dense_time = f"{dense['graph_seconds']:.2f}" if dense else "-"
            dense_mem = f"{dense['peak_mb'] - dense['rss_before_mb']:.0f}" if dense else "-"
            emit(
                f"| {n} | {leiden['edges']} | {leiden['graph_seconds']:.2f} | {leiden['partition_seconds']:.2f} | "
                f"{total:.2f} | {total / base_total:.1f}x ({n / base_n:.0f}x) | {growth:.0f} | "
                f"{leiden['domains']} ({leiden['min_domain']}-{leiden['max_domain']}) | {louvain_cell} | "
                f"{dense_time} | {dense_mem} |"
            )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "`.venv/bin/python bench/bench_synth_scale.py " + " ".join(sys.argv[1:]) + "`"
    header = [
        "# ingest + tool graph benchmark",
        "",
        f"Command: {command.replace(' `', '`')}",
        "",
        f"Machine: {_machine()}. Shared with other jobs, so compare ratios within one run, not absolute times.",
        "Each stage runs in a fresh process; 'RSS growth' = the stage's peak RSS minus the RSS before it started.",
        "",
    ]
    existing_tail = ""
    if out.exists():
        text = out.read_text()
        marker = "\n## Notes"
        existing_tail = text[text.index(marker) :] if marker in text else ""
    out.write_text("\n".join(header + lines) + "\n" + existing_tail)
    print(f"\nwrote {out}")
    return 0


def _machine() -> str:
    import os
    import platform

    return f"{platform.machine()}, {os.cpu_count()} CPUs reported, Python {platform.python_version()}"


if __name__ == "__main__":
    sys.exit(main())
