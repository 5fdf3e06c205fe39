"""GPU throughput of the trainer's LoRA step: tokens/s and MFU on Qwen3-1.7B and Qwen3-8B shapes.

Models are randomly initialised straight on the GPU in bf16 from `Qwen3Config` (no download),
LoRA r=16 on every linear layer, packed 4k-token rows of variable-length documents with
per-document position_ids (the trainer's own BinStream + AssistantTokenLoss), the best attention
available (flash_attention_2 if installed, else the trainer's per-document SDPA), no gradient checkpointing.

MFU = achieved FLOPs / peak, with FLOPs per token = 4 x (parameters in matmuls) for LoRA without
checkpointing (forward 2N + input gradients 2N; frozen weights get no weight gradient) plus the
causal attention FLOPs of each document (3 x forward: 2 x L^2 x heads x head_dim per layer per doc).
Peak: 989 TFLOP/s dense bf16 (H100 SXM) unless --peak-tflops says otherwise.

    python bench/bench_trainer_gpu.py                 # on a GPU machine; needs torch + transformers + peft
    python bench/bench_trainer_gpu.py --tiny          # CPU sanity check in seconds
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import time
from pathlib import Path

import torch

from trainer import attention as packed_attention
from trainer.data import Document
from trainer.model import attach_lora
from trainer.objective import AssistantTokenLoss
from trainer.packing import BinStream

SHAPES = {
    # Published Qwen3 configurations (config.json of Qwen/Qwen3-1.7B and Qwen/Qwen3-8B).
    "qwen3-1.7b": dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28, num_attention_heads=16,
                       num_key_value_heads=8, head_dim=128, vocab_size=151936, tie_word_embeddings=True),
    "qwen3-8b": dict(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36, num_attention_heads=32,
                     num_key_value_heads=8, head_dim=128, vocab_size=151936, tie_word_embeddings=False),
    "tiny": dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=32, vocab_size=4096, tie_word_embeddings=True),
}


def random_documents(count: int, vocab: int, min_len: int, max_len: int, seed: int) -> list[Document]:
    rng = random.Random(seed)
    docs = []
    for n in range(count):
        length = rng.randint(min_len, max_len)
        ids = [rng.randrange(vocab) for _ in range(length)]
        # Every next token is a target, as in the usual MFU accounting.
        docs.append(Document(input_ids=ids, targets=ids[1:] + [-100], source=f"random:{n}"))
    return docs


def base_linear_parameters(model) -> int:
    """Parameters of the frozen Linear layers (LM head included) that every token goes through."""
    total = 0
    for name, module in model.get_base_model().named_modules():
        if "lora_" in name or name.endswith("base_layer"):
            continue  # adapter matrices are negligible; base layers are counted through their wrapper
        layer = getattr(module, "base_layer", module)
        if isinstance(layer, torch.nn.Linear):
            total += layer.weight.numel()
    return total


def bench_shape(name: str, args, device: torch.device, dtype: torch.dtype, attn: str) -> dict:
    from transformers import AutoModelForCausalLM, Qwen3Config

    shape = SHAPES[name]
    config = Qwen3Config(**shape, max_position_embeddings=max(8192, args.seq_len), use_cache=False)
    torch.manual_seed(0)
    with torch.device(device):
        base = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)
    base.requires_grad_(False)
    model = attach_lora(base, args.lora_r, 2 * args.lora_r, 0.0, "all-linear")
    model.train()
    n_matmul = base_linear_parameters(model)
    objective = AssistantTokenLoss(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=device.type == "cuda")

    docs = random_documents(args.docs, shape["vocab_size"], args.min_doc, args.max_doc, seed=1)
    stream = BinStream(docs, args.seq_len, seed=0)
    autocast = torch.autocast(device.type, dtype=dtype) if device.type == "cuda" else torch.autocast("cpu", enabled=False)

    def step(position: int) -> tuple[int, float]:
        batch = stream.batch(position)
        tensors = batch.to_tensors(device)
        with autocast:
            loss = objective(**tensors) / batch.n_target_tokens
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        attention = sum(6 * length * length * shape["num_attention_heads"] * shape["head_dim"]
                        * shape["num_hidden_layers"] for length in batch.doc_lengths)
        return batch.n_tokens, attention / 2  # causal: half the L^2 products

    for position in range(args.warmup):
        step(position)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    tokens, attention_flops = 0, 0.0
    for position in range(args.warmup, args.warmup + args.steps):
        n, a = step(position)
        tokens += n
        attention_flops += a
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    flops = 4 * n_matmul * tokens + attention_flops
    result = {
        "shape": name, "matmul_params": n_matmul, "tokens": tokens, "seconds": seconds,
        "tokens_per_s": tokens / seconds, "tflops": flops / seconds / 1e12,
        "mfu": flops / seconds / (args.peak_tflops * 1e12),
        "peak_mem_gb": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None,
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny shape on CPU (fp32): a sanity check in seconds")
    parser.add_argument("--shapes", default="qwen3-1.7b,qwen3-8b")
    parser.add_argument("--seq-len", type=int, default=4096, help="tokens per packed row")
    parser.add_argument("--docs", type=int, default=256, help="random documents to pack")
    parser.add_argument("--min-doc", type=int, default=256)
    parser.add_argument("--max-doc", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--attn", default="auto",
                        help=f"auto (the trainer's choice) | flash_attention_2 | {packed_attention.NAME} | sdpa | eager")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the GPU (H100 SXM: 989)")
    parser.add_argument("--out", type=Path, default=None, help="append the table to this markdown file")
    args = parser.parse_args()

    if args.tiny:
        device, dtype = torch.device("cpu"), torch.float32
        shapes = ["tiny"]
        args.seq_len, args.docs, args.min_doc, args.max_doc = min(args.seq_len, 1024), 32, 64, 512
        args.steps, args.warmup = min(args.steps, 4), 1
    else:
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device: run with --tiny for the CPU sanity check")
        device, dtype = torch.device("cuda"), torch.bfloat16
        shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    attn = args.attn
    if attn == "auto":
        flash = device.type == "cuda" and importlib.util.find_spec("flash_attn") is not None
        attn = "flash_attention_2" if flash else packed_attention.NAME
    if attn == packed_attention.NAME:
        packed_attention.register()

    gpu = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(f"device {gpu}, dtype {dtype}, attention {attn}, torch {torch.__version__}")
    lines = ["| shape | matmul params | tokens/step | tokens/s | TFLOP/s | MFU | peak mem GB |", "|---|---|---|---|---|---|---|"]
    for name in shapes:
        r = bench_shape(name, args, device, dtype, attn)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        mem = f"{r['peak_mem_gb']:.1f}" if r["peak_mem_gb"] is not None else "-"
        lines.append(f"| {name} | {r['matmul_params'] / 1e6:,.1f}M | {r['tokens'] // args.steps:,} | "
                     f"{r['tokens_per_s']:,.0f} | {r['tflops']:.1f} | {r['mfu']:.1%} | {mem} |")
        print(lines[-1], flush=True)
    table = "\n".join(lines)
    print(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as handle:
            handle.write(f"\n## GPU LoRA throughput ({gpu}, {attn})\n\n{table}\n")


if __name__ == "__main__":
    main()
