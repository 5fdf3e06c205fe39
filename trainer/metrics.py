"""Training metrics: one JSON line per optimizer step, and the loss curve as a PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class MetricsLog:
    """Appends step records to `metrics.jsonl`; on resume, drops records past the checkpoint."""

    def __init__(self, path: Path, resume_from_step: int | None = None):
        self.path = Path(path)
        self.records: list[dict[str, Any]] = []
        if resume_from_step is not None and self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    record = json.loads(line)
                    if record.get("step", 0) <= resume_from_step:
                        self.records.append(record)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", encoding="utf-8") as handle:
            for record in self.records:
                handle.write(json.dumps(record) + "\n")

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def plot_loss(records: list[dict[str, Any]], path: Path) -> None:
    """Loss per step, one colour per phase, with the learning rate on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    lr_axis = ax.twinx()
    for phase in sorted({r["phase"] for r in records}):
        rows = [r for r in records if r["phase"] == phase]
        ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], marker="." if len(rows) < 50 else None,
                label=f"loss ({phase})")
        lr_axis.plot([r["step"] for r in rows], [r["lr"] for r in rows], linestyle=":", alpha=0.6, color="grey")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss per assistant token")
    lr_axis.set_ylabel("learning rate (dotted)")
    ax.grid(alpha=0.3)
    if records:
        ax.legend(loc="upper right")
    ax.set_title("envhub train: two-phase LoRA")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
