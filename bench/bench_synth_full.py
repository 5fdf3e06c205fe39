"""Full `envhub synth` on the 567-spec OpenAPI archive: wall time, peak RSS, yields, and scaling.

    .venv/bin/python bench/bench_synth_full.py [--archive PATH] [--sizes 2000,4000,8000,16000] [--out DIR]

Baseline (same run, same machine): ingest alone. Every other time is also reported as a multiple
of it, so numbers from a busy shared machine stay comparable. Peak memory is the
proportional set size (PSS) of this process and its workers together, sampled every 200 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from synth.envs.names import env_name
from synth.envs.synthesize import SynthSettings, run_domains, synthesize
from synth.graph import build_tool_graph, partition_domains
from synth.ingest import ingest_paths

ARCHIVE = Path("/work/shared/data/openapi-directory-lite.tar.gz")


class PeakRSS:
    """Peak resident memory of this process plus its children, sampled in a thread."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        # PSS, not RSS: forked workers share the parent's pages, and summing their RSS would count
        # those pages once per process.
        me = psutil.Process()
        total = me.memory_full_info().pss
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # a worker may exit between listing and reading
                total += child.memory_full_info().pss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def scale_point(tools: list, seed: int = 0) -> dict:
    """graph + partition + draft + gate on the first `len(tools)` tools (no files written)."""
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        graph = build_tool_graph(tools, seed=seed)
        domains = partition_domains(graph, tools, seed=seed)
        by_name = {t.name: t for t in tools}
        taken: set[str] = set()
        jobs = [(env_name(d.name, taken), d.name, [by_name[n] for n in d.tools]) for d in domains]
        results = run_domains(jobs, SynthSettings(seed=seed, min_tools=3), lambda **_: None)
        seconds = time.perf_counter() - t0
    kept = sum(len(r.tools_kept) for r in results if r.spec_json is not None)
    return {"tools": len(tools), "seconds": seconds, "peak_rss_mb": rss.peak / 2**20,
            "rss_growth_mb": (rss.peak - rss.start) / 2**20,
            "envs_passing": sum(1 for r in results if r.spec_json is not None), "tools_kept": kept,
            "yield": kept / len(tools)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archive", type=Path, default=ARCHIVE)
    parser.add_argument("--sizes", default="2000,4000,8000,16000")
    parser.add_argument("--out", type=Path, default=None, help="build folder (default: a temporary one)")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the tables to this file")
    args = parser.parse_args()
    if not args.archive.exists():
        print(f"archive not found: {args.archive}", file=sys.stderr)
        return 2
    load = psutil.getloadavg()

    t0 = time.perf_counter()
    ingested = ingest_paths([args.archive])
    ingest_s = time.perf_counter() - t0

    out = args.out or Path(tempfile.mkdtemp(prefix="envhub-synth-bench-"))
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        report = synthesize([args.archive], out, SynthSettings(progress=False))
        full_s = time.perf_counter() - t0
    d = report.data
    del report  # the scale points below should not carry the full build's results
    lines = [
        f"machine: {psutil.cpu_count()} cores, load average at start {load[0]:.2f} (shared with other engineers)",
        "",
        "| run | tools | seconds | x ingest | peak PSS MB | envs passing | tools kept | yield |",
        "|---|---|---|---|---|---|---|---|",
        f"| ingest only (baseline) | {len(ingested.tools)} | {ingest_s:.1f} | 1.0 | - | - | - | - |",
        f"| full `envhub synth` | {d['tools_ingested']} | {full_s:.1f} | {full_s / ingest_s:.1f} | "
        f"{rss.peak / 2**20:.0f} | {d['environments_passing']} / {d['environments_built']} | {d['tools_kept']} | "
        f"{d['yield']:.1%} |",
        "",
        "stage seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in d["seconds"].items()),
        "",
        "dropped tools by reason: " + ", ".join(f"{k}: {v['count']}" for k, v in d["dropped_tools"].items()),
        "",
        "dropped environments by reason: "
        + ", ".join(f"{k}: {v['count']}" for k, v in d["dropped_environments"].items()),
        "",
        "Scale points run in the same process after the full build, so their peak includes what that",
        "process already holds (the ingested tools); the growth column is what the point itself added.",
        "",
        "| scale point (graph+partition+synth+gate) | seconds | x ingest | peak PSS MB | PSS growth MB | envs passing | yield |",
        "|---|---|---|---|---|---|---|",
    ]
    for size in [int(s) for s in args.sizes.split(",") if s]:
        point = scale_point(ingested.tools[:size])
        lines.append(f"| {point['tools']} tools | {point['seconds']:.1f} | {point['seconds'] / ingest_s:.1f} | "
                     f"{point['peak_rss_mb']:.0f} | {point['rss_growth_mb']:.0f} | {point['envs_passing']} | "
                     f"{point['yield']:.1%} |")
    text = "\n".join(lines)
    print(text)
    print(json.dumps({k: d[k] for k in ("tools_ingested", "tools_kept", "yield", "environments_passing")}))
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
