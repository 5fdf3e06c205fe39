"""CPU benchmark of the trainer: padding-free packing vs padded batches, and our loop vs TRL's SFTTrainer.

Both comparisons run in the same process on the same trajectories, model, LoRA and step settings,
so the ratios hold on a noisy shared machine even when the absolute numbers do not.

    .venv/bin/python bench/bench_trainer_cpu.py --model smollm2 --docs 24
    .venv/bin/python bench/bench_trainer_cpu.py --model tiny --docs 64      # seconds, for a sanity check
    .venv/bin/python bench/bench_trainer_cpu.py --data traj.jsonl --docs 24  # collected trajectories
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import torch

from contracts import Trajectory, read_jsonl
from trainer import data
from trainer.config import TrainConfig
from trainer.loop import train
from trainer.model import attach_lora, choose_runtime, load_base_model, load_tokenizer, resolve_model_dir
from trainer.objective import AssistantTokenLoss
from trainer.packing import BinStream
from trainer.testing import build_tiny_model

TOOLS = [
    {"type": "function", "function": {"name": name, "description": desc, "parameters": {
        "type": "object", "properties": {arg: {"type": "string"} for arg in args}, "required": list(args)}}}
    for name, desc, args in [
        ("search_flights", "Find flights between two airports on a date.", ("origin", "destination", "date")),
        ("get_booking", "Look up a booking by its reference.", ("booking_ref",)),
        ("change_seat", "Move a passenger to another seat.", ("booking_ref", "passenger", "seat")),
        ("cancel_booking", "Cancel a booking and refund it.", ("booking_ref", "reason")),
        ("get_weather", "Weather forecast for a city.", ("city", "date")),
    ]
]
CITIES = ["London", "Paris", "Berlin", "Madrid", "Rome", "Vienna", "Lisbon", "Prague", "Dublin", "Oslo"]


def synthetic_trajectories(count: int, seed: int) -> list[dict]:
    """Conversations of 1 to 7 tool rounds, so lengths vary as in real collected data."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        ref = f"BK{rng.randint(10000, 99999)}"
        messages = [{"role": "system", "content": "You are an airline support agent. Use the tools; be precise."},
                    {"role": "user", "content": f"Hi, I need help with booking {ref}. " + "Thanks a lot. " * rng.randint(0, 6)}]
        for call_index in range(rng.randint(1, 7)):
            tool = rng.choice(TOOLS)["function"]
            args = {arg: (ref if arg == "booking_ref" else rng.choice(CITIES) if arg in ("origin", "destination", "city")
                          else f"2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}" if arg == "date" else f"{arg}-{rng.randint(1, 99)}")
                    for arg in tool["parameters"]["properties"]}
            call_id = f"call_{call_index}"
            messages.append({"role": "assistant", "content": "Let me check that." if rng.random() < 0.5 else None,
                             "tool_calls": [{"id": call_id, "type": "function",
                                             "function": {"name": tool["name"], "arguments": json.dumps(args)}}]})
            rows = [{"id": f"R{rng.randint(1, 999)}", "city": rng.choice(CITIES), "price": rng.randint(50, 900)}
                    for _ in range(rng.randint(1, 6))]
            messages.append({"role": "tool", "tool_call_id": call_id, "content": json.dumps({"results": rows})})
        messages.append({"role": "assistant", "content": f"All done for booking {ref}. " + "Anything else? " * rng.randint(1, 4)})
        out.append(Trajectory.model_validate({"task_id": f"bench-{n}", "env": "airline", "messages": messages,
                                              "tools": TOOLS, "passed": True}).to_json())
    return out


def _tokenizer_and_docs(model_dir: Path, trajectories: list[dict], max_seq_len: int, allow_overlong: bool):
    tokenizer = load_tokenizer(model_dir)
    tokenizer.chat_template = data.choose_training_template(tokenizer)[0]
    stats = data.DataStats()
    records = [(f"bench:{i}", Trajectory.model_validate(t)) for i, t in enumerate(trajectories)]
    docs = data.build_documents(tokenizer, records, max_seq_len,
                                stats=stats)
    if stats.dropped_overlong and not allow_overlong:
        raise SystemExit(f"{stats.dropped_overlong} of {len(trajectories)} trajectories exceed --max-seq-len "
                         f"{max_seq_len} with this tokenizer; raise --max-seq-len/--batch-tokens")
    return tokenizer, docs, stats.dropped_overlong


def collected_trajectories(path: Path, count: int, seed: int, model_dir: Path, max_seq_len: int) -> list[dict]:
    """`count` passed trajectories of a collected JSONL that fit `max_seq_len`, in a seeded random order.

    Trajectories longer than the limit are left out (the trainer drops them too, and reports it),
    so the benchmark compares setups on exactly the documents both can train on.
    """
    rows = [line.record.to_json() for line in read_jsonl(path, Trajectory) if line.record.passed]
    random.Random(seed).shuffle(rows)
    _, docs, _ = _tokenizer_and_docs(model_dir, rows, max_seq_len, allow_overlong=True)
    kept_ids = {int(d.source.split(":")[1]) for d in docs}
    fitting = [r for i, r in enumerate(rows) if i in kept_ids]
    print(f"{path}: {len(rows)} passed trajectories, {len(fitting)} fit {max_seq_len} tokens, using {min(count, len(fitting))}")
    return fitting[:count]


def _lora_objective(model_dir: Path, args, attn: str):
    torch.manual_seed(args.seed)
    model = attach_lora(load_base_model(model_dir, choose_runtime("cpu", attn)), args.lora_r, 2 * args.lora_r,
                        0.0, "all-linear")
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    return AssistantTokenLoss(model), torch.optim.AdamW(params, lr=2e-4)


def run_packed(model_dir: Path, docs, args) -> dict:
    # The trainer's CPU default: one causal SDPA per packed document (trainer/attention.py).
    objective, optimizer = _lora_objective(model_dir, args, "auto")
    stream = BinStream(docs, args.batch_tokens, seed=args.seed)
    started, tokens = time.perf_counter(), 0
    for position in range(len(stream)):
        batch = stream.batch(position)
        loss = objective(**batch.to_tensors("cpu")) / batch.n_target_tokens
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += batch.n_tokens
    seconds = time.perf_counter() - started
    return {"steps": len(stream), "tokens": tokens, "computed": tokens, "seconds": seconds}


def run_padded(model_dir: Path, docs, args) -> dict:
    """The usual collator: shuffled documents, `batch_size` per step, right-padded to the longest."""
    objective, optimizer = _lora_objective(model_dir, args, "sdpa")  # padded rows need the padding mask
    order = list(range(len(docs)))
    random.Random(args.seed).shuffle(order)
    mean = sum(len(d) for d in docs) / len(docs)
    batch_size = max(1, round(args.batch_tokens / mean))
    started, tokens, computed, steps = time.perf_counter(), 0, 0, 0
    for start in range(0, len(order), batch_size):
        chunk = [docs[i] for i in order[start:start + batch_size]]
        width = max(len(d) for d in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long)
        targets = torch.full((len(chunk), width), data.IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros(len(chunk), width, dtype=torch.long)
        for row, doc in enumerate(chunk):
            ids[row, :len(doc)] = torch.tensor(doc.input_ids)
            targets[row, :len(doc)] = torch.tensor(doc.targets)
            mask[row, :len(doc)] = 1
        positions = torch.arange(width).expand(len(chunk), -1)
        loss = objective(input_ids=ids, position_ids=positions, targets=targets, attention_mask=mask)
        (loss / targets.ne(data.IGNORE_INDEX).sum()).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += sum(len(d) for d in chunk)
        computed += ids.numel()
        steps += 1
    seconds = time.perf_counter() - started
    return {"steps": steps, "tokens": tokens, "computed": computed, "seconds": seconds, "batch_size": batch_size}


def run_ours(model_dir: Path, data_file: Path, workdir: Path, args) -> dict:
    cfg = TrainConfig(out=workdir / "ours", phase1=[data_file], model=str(model_dir), epochs=1.0,
                      max_seq_len=args.max_seq_len, batch_tokens=args.batch_tokens, lr=2e-4, lora_r=args.lora_r,
                      lora_alpha=2 * args.lora_r, lora_dropout=0.0, seed=args.seed, device="cpu", progress=False)
    report = train(cfg)
    records = [json.loads(line) for line in (cfg.out / "metrics.jsonl").read_text().splitlines()]
    seconds = sum(r["seconds"] for r in records)
    return {"steps": len(records), "tokens": sum(r["tokens"] for r in records), "seconds": seconds,
            "loss": report["phases"][0]["final_loss"]}


def run_trl(model_dir: Path, docs, workdir: Path, args) -> dict:
    """TRL's SFTTrainer on the same token ids and assistant masks, BFD packing, fp32, no checkpointing."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    rows = []
    for doc in docs:
        masks = [0] + [int(t != data.IGNORE_INDEX) for t in doc.targets[:-1]]
        rows.append({"input_ids": doc.input_ids, "assistant_masks": masks})
    dataset = Dataset.from_list(rows)

    class Clock(TrainerCallback):
        def on_train_begin(self, *a, **k):
            self.started = time.perf_counter()

        def on_train_end(self, *a, **k):
            self.seconds = time.perf_counter() - self.started

    torch.manual_seed(args.seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
    tokenizer = load_tokenizer(model_dir)
    config = SFTConfig(
        output_dir=str(workdir / "trl"), num_train_epochs=1, per_device_train_batch_size=1,
        gradient_accumulation_steps=1, learning_rate=2e-4, lr_scheduler_type="cosine", warmup_steps=1,
        bf16=False, fp16=False, gradient_checkpointing=False, packing=True, packing_strategy="bfd",
        max_length=args.batch_tokens, logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
        dataloader_num_workers=0, seed=args.seed, disable_tqdm=True,
    )
    clock = Clock()
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=LoraConfig(r=args.lora_r, lora_alpha=2 * args.lora_r, lora_dropout=0.0,
                                                target_modules="all-linear", task_type="CAUSAL_LM"),
                         callbacks=[clock])
    result = trainer.train()
    return {"steps": result.global_step, "tokens": sum(len(d) for d in docs), "seconds": clock.seconds,
            "loss": result.training_loss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2", help="smollm2, tiny, or a local model folder")
    parser.add_argument("--docs", type=int, default=24)
    parser.add_argument("--max-seq-len", type=int, default=1024)
    parser.add_argument("--batch-tokens", type=int, default=1024)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-trl", action="store_true")
    parser.add_argument("--skip-loops", action="store_true", help="only padded vs packed (no envhub loop, no TRL)")
    parser.add_argument("--data", type=Path, default=None,
                        help="collected Trajectory JSONL to use instead of the synthetic airline conversations")
    parser.add_argument("--out", type=Path, default=Path("out/bench/trainer.md"))
    args = parser.parse_args()
    torch.manual_seed(args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.model == "tiny":
            model_dir = build_tiny_model(workdir / "tiny", "chatml", hidden_size=256, num_layers=4)
        else:
            model_dir = resolve_model_dir(args.model)
        if args.data is not None:
            trajectories = collected_trajectories(args.data, args.docs, args.seed, model_dir, args.max_seq_len)
        else:
            trajectories = synthetic_trajectories(args.docs, args.seed)
        _, docs, _ = _tokenizer_and_docs(model_dir, trajectories, args.max_seq_len, allow_overlong=False)
        data_file = workdir / "bench.jsonl"
        data_file.write_text("".join(json.dumps(t) + "\n" for t in trajectories))
        lengths = sorted(len(d) for d in docs)
        print(f"{len(docs)} documents, {sum(lengths)} tokens, lengths {lengths[0]}..{lengths[-1]} "
              f"(median {lengths[len(lengths) // 2]}), model {model_dir}")

        padded = run_padded(model_dir, docs, args)
        packed = run_packed(model_dir, docs, args)
        ours = None if args.skip_loops else run_ours(model_dir, data_file, workdir, args)
        trl = None if args.skip_trl or args.skip_loops else run_trl(model_dir, docs, workdir, args)

    def rate(result):
        return result["tokens"] / result["seconds"]

    lines = [
        "| setup | steps | real tokens | seconds | real tokens/s | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for label, result in ((f"padded batches (pad to longest, batch {padded['batch_size']})", padded),
                          ("padding-free packing (BFD + position_ids, per-document SDPA)", packed)):
        lines.append(f"| {label} | {result['steps']} | {result['tokens']} | {result['seconds']:.1f} | "
                     f"{rate(result):,.0f} | {rate(result) / rate(padded):.2f}x vs padded |")
    if ours is not None:
        lines.append(f"| envhub train loop (packing, per-document SDPA) | {ours['steps']} | {ours['tokens']} | {ours['seconds']:.1f} | "
                     f"{rate(ours):,.0f} | " + (f"{rate(ours) / rate(trl):.2f}x vs TRL |" if trl else "- |"))
    if trl is not None:
        lines.append(f"| TRL SFTTrainer (packing bfd, fp32, sdpa) | {trl['steps']} | {trl['tokens']} | {trl['seconds']:.1f} | "
                     f"{rate(trl):,.0f} | 1.00x |")
    padding_waste = 1 - padded["tokens"] / padded["computed"]
    source = f"trajectories collected in `{args.data.name}`" if args.data else "synthetic airline trajectories"
    summary = (f"Model `{args.model}`, {len(docs)} {source} ({sum(lengths)} tokens, "
               f"{lengths[0]}-{lengths[-1]} tokens each), LoRA r={args.lora_r} on all linear layers, fp32, "
               f"batch {args.batch_tokens} tokens, one epoch. Padded batches wasted {padding_waste:.0%} of computed positions.")
    table = "\n".join(lines)
    print(table)
    print(summary)
    extra = (f" --data {args.data}" if args.data else "") + (" --skip-loops" if args.skip_loops else "")
    command = (f"`.venv/bin/python bench/bench_trainer_cpu.py --model {args.model} --docs {args.docs} --max-seq-len {args.max_seq_len} "
               f"--batch-tokens {args.batch_tokens} --lora-r {args.lora_r}{extra}`")
    title = f"## CPU: packing and loop vs TRL ({args.model}{', ' + args.data.name if args.data else ''})"
    section = f"{title}\n\nCommand: {command}\n\n{summary}\n\n{table}\n"
    _write_section(args.out, title, section)


def _write_section(path: Path, heading: str, section: str) -> None:
    """Replace this benchmark's section in the results file, keeping the others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.exists() else "# Trainer benchmarks\n"
    parts = text.split("\n## ")
    kept = [parts[0]] + ["## " + p for p in parts[1:] if not ("## " + p).startswith(heading)]
    path.write_text("\n".join(p.rstrip("\n") + "\n" for p in kept) + "\n" + section)


if __name__ == "__main__":
    main()
