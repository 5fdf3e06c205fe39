"""Do a build's seeds agree with themselves? Invariant pass counts and the placeholder share.

    .venv/bin/python bench/bench_seed_coherence.py BUILD_DIR [BUILD_DIR ...] [--examples N]

BUILD_DIR is the output of `envhub synth` (or bench/bench_synth_full.py --out). For every
environment in BUILD_DIR/envs the checks of synth.envs.seedcheck run on its seed rows; the table
gives, per invariant, the rows checked, the rows that pass and the environments with a failure,
then the share of non-id seed strings that match the placeholder pattern (defined in
synth/envs/seedcheck.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from servers.spec import load_envspec
from synth.envs.seedcheck import CHECKS, placeholder_share


def measure(build: Path, examples: int) -> str:
    specs = [load_envspec(p) for p in sorted((build / "envs").glob("*.json"))]
    lines = [f"### {build} ({len(specs)} environments)", "",
             "| invariant | rows checked | pass | fail | envs failing |", "|---|---|---|---|---|"]
    shown: list[str] = []
    for name, check in CHECKS.items():
        checked = failed = envs = 0
        for spec in specs:
            result = check(spec)
            checked += result.checked
            failed += len(result.failures)
            envs += bool(result.failures)
            if result.failures and len(shown) < examples:
                shown.append(f"{spec.name}: {result.failures[0]}")
        lines.append(f"| {name} | {checked} | {checked - failed} | {failed} | {envs} |")
    placeholders = total = 0
    samples: list[str] = []
    for spec in specs:
        p, t, ex = placeholder_share(spec)
        placeholders += p
        total += t
        samples += ex[:1]
    share = placeholders / total if total else 0.0
    lines += ["", f"placeholder-pattern strings: {placeholders} / {total} non-id seed strings = {share:.1%}"]
    if examples:
        lines += ["", "failure examples: " + "; ".join(shown), "",
                  "placeholder examples: " + "; ".join(samples[:examples])]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("builds", nargs="+", type=Path)
    parser.add_argument("--examples", type=int, default=6)
    args = parser.parse_args()
    for build in args.builds:
        if not (build / "envs").is_dir():
            print(f"not a build folder (no envs/): {build}", file=sys.stderr)
            return 2
        print(measure(build, args.examples))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
