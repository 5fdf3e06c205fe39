"""Generation for many conversations at once on one local model: batched decoding, reused KV caches.

A small model on a CPU spends an evaluation in two places: re-reading the prompt every turn
(system prompt, tools and the whole conversation so far) and decoding one token at a time for
one episode at a time. This engine removes both:

- **Cache reuse.** Each conversation (keyed by its episode) keeps the key/value cache of what the
  model has read and written. The next turn's prompt starts with the same tokens, so only the
  new part (a tool result, a user reply) is computed. The reusable part is the longest common
  prefix of the cached and the new token ids, so a re-rendered turn that tokenizes differently
  from what was generated costs a recomputation, never a wrong answer.
- **Batched decoding.** Requests that arrive together (the episodes waiting for the model) are
  prefilled one by one (compute-bound anyway) and then decoded as one left-padded batch: a
  decoding step for 8 conversations costs little more than for one, since it is bound by
  reading the weights. A finished row leaves the batch at once.

Decoding stops at the end-of-turn token, or right after a closing `</tool_call>`: a turn holds
at most one tool call, so a model that would go on to repeat its call (the failure the demo's
first trained models showed) gets the result of its first call instead.
The arithmetic is the model's own forward pass, so greedy results equal `model.generate`'s
(tests/test_eval_engine.py checks it).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

STOP_STRINGS = ("</tool_call>",)


@dataclass
class GenerationResult:
    """New token ids (without the stop token) and how many prompt tokens had to be computed."""

    token_ids: list[int]
    prompt_tokens: int
    computed_prompt_tokens: int


@dataclass
class _Row:
    key: str
    prompt: list[int]
    layers: list[tuple[Any, Any]]  # this conversation's cache: (keys, values) per layer, batch 1
    generated: list[int] = field(default_factory=list)
    done: bool = False
    computed: int = 0


def common_prefix_length(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


class GenerationEngine:
    """Greedy (temperature 0) or sampled generation for batches of (key, prompt ids)."""

    def __init__(self, model: Any, tokenizer: Any, max_new_tokens: int = 160, temperature: float | None = None,
                 stop_strings: tuple[str, ...] = STOP_STRINGS, max_cached: int = 64, seed: int = 0):
        import torch

        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature or 0.0
        self.stop_strings = stop_strings
        self.max_cached = max_cached
        self.device = next(model.parameters()).device
        self._caches: OrderedDict[str, tuple[list[int], list[tuple[Any, Any]]]] = OrderedDict()
        self._generator = torch.Generator(device="cpu").manual_seed(seed)
        eos: set[int] = set()
        for token in (tokenizer.eos_token, "<|im_end|>", "<|eot_id|>", "<|endoftext|>"):
            if token and token in tokenizer.get_vocab():
                eos.add(tokenizer.convert_tokens_to_ids(token))
        if tokenizer.eos_token_id is not None:
            eos.add(int(tokenizer.eos_token_id))
        self.eos_ids = frozenset(eos)
        # How many trailing tokens can hold a stop string (a generous bound: one token per character).
        self._stop_window = max((len(s) for s in stop_strings), default=0)

    # ------------------------------------------------------------------ public

    def generate(self, requests: list[tuple[str, list[int]]]) -> list[GenerationResult]:
        import torch

        with torch.no_grad():
            rows = [self._prefill(key, ids) for key, ids in requests]
            self._decode([row for row in rows if not row.done])
        results = []
        for row in rows:
            self._store(row)
            tokens = [t for t in row.generated if t not in self.eos_ids]
            results.append(GenerationResult(tokens, len(row.prompt), row.computed))
        return results

    def forget(self, key: str) -> None:
        self._caches.pop(key, None)

    # ------------------------------------------------------------------ steps

    def _pick(self, logits: Any) -> Any:
        import torch

        if self.temperature <= 0:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits.float() / self.temperature, dim=-1)
        return torch.multinomial(probs.cpu(), 1, generator=self._generator).squeeze(-1).to(logits.device)

    def _prefill(self, key: str, ids: list[int]) -> _Row:
        import torch
        from transformers import DynamicCache

        if not ids:
            raise ValueError("an empty prompt cannot be continued")
        cached_ids, cached_layers = self._caches.pop(key, ([], []))
        # At least one token is computed, so there are logits to pick the first new token from.
        reuse = min(common_prefix_length(cached_ids, ids), len(ids) - 1)
        if reuse and cached_layers:
            cache = DynamicCache(ddp_cache_data=[(k[:, :, :reuse], v[:, :, :reuse]) for k, v in cached_layers])
        else:
            reuse, cache = 0, DynamicCache()
        new = torch.tensor([ids[reuse:]], device=self.device)
        positions = torch.arange(reuse, len(ids), device=self.device).unsqueeze(0)
        out = self.model(input_ids=new, position_ids=positions, past_key_values=cache, use_cache=True,
                         logits_to_keep=1)
        row = _Row(key, list(ids), [(layer.keys, layer.values) for layer in out.past_key_values.layers],
                   computed=len(ids) - reuse)
        self._append(row, int(self._pick(out.logits[0, -1]).item()))
        return row

    def _append(self, row: _Row, token: int) -> None:
        row.generated.append(token)
        if token in self.eos_ids or len(row.generated) >= self.max_new_tokens:
            row.done = True
        elif self.stop_strings:
            tail = self.tokenizer.decode(row.generated[-self._stop_window:], skip_special_tokens=False)
            row.done = any(stop in tail for stop in self.stop_strings)

    def _decode(self, rows: list[_Row]) -> None:
        """Decode every row until it stops; finished rows leave the batch (their caches are cut out first)."""
        import torch
        from transformers import DynamicCache

        if not rows:
            return
        lengths = [len(r.prompt) for r in rows]
        width = max(lengths)
        layers = []
        for index in range(len(rows[0].layers)):
            keys = [self._pad_left(r.layers[index][0], width - n) for r, n in zip(rows, lengths, strict=True)]
            values = [self._pad_left(r.layers[index][1], width - n) for r, n in zip(rows, lengths, strict=True)]
            layers.append((torch.cat(keys), torch.cat(values)))
        cache = DynamicCache(ddp_cache_data=layers)
        mask = torch.zeros((len(rows), width), dtype=torch.long, device=self.device)
        for i, n in enumerate(lengths):
            mask[i, width - n:] = 1
        active = list(range(len(rows)))  # indices into rows, in batch order
        step = 0
        while active:
            feed = torch.tensor([[rows[i].generated[-1]] for i in active], device=self.device)
            positions = torch.tensor([[lengths[i] + step] for i in active], device=self.device)
            mask = torch.cat([mask, torch.ones((len(active), 1), dtype=mask.dtype, device=self.device)], dim=1)
            out = self.model(input_ids=feed, attention_mask=mask, position_ids=positions, past_key_values=cache,
                             use_cache=True, logits_to_keep=1)
            cache = out.past_key_values
            picked = self._pick(out.logits[:, -1]).tolist()
            keep = []
            for slot, (i, token) in enumerate(zip(active, picked, strict=True)):
                row = rows[i]
                self._append(row, int(token))
                if row.done:
                    # The cache holds the prompt and every generated token fed so far (all but the last).
                    start, stop = width - lengths[i], width + step + 1
                    row.layers = [(layer.keys[slot:slot + 1, :, start:stop].clone(),
                                   layer.values[slot:slot + 1, :, start:stop].clone()) for layer in cache.layers]
                else:
                    keep.append(slot)
            step += 1
            if len(keep) < len(active):
                if keep:
                    index = torch.tensor(keep, device=self.device)
                    cache.batch_select_indices(index)
                    mask = mask[index]
                active = [active[slot] for slot in keep]

    @staticmethod
    def _pad_left(tensor: Any, pad: int) -> Any:
        import torch

        if pad == 0:
            return tensor
        shape = list(tensor.shape)
        shape[2] = pad
        return torch.cat([torch.zeros(shape, dtype=tensor.dtype, device=tensor.device), tensor], dim=2)

    def _store(self, row: _Row) -> None:
        # What the cache holds: the prompt, then every generated token except the last one.
        ids = row.prompt + row.generated[:-1]
        length = row.layers[0][0].shape[2] if row.layers else 0
        self._caches[row.key] = (ids[:length], row.layers)
        self._caches.move_to_end(row.key)
        while len(self._caches) > self.max_cached:
            self._caches.popitem(last=False)


class Batcher:
    """Gathers the generation requests of concurrent episodes into batches for one engine.

    Episodes call `submit` from the event loop; one batch at a time runs in a worker thread while
    the loop goes on serving the other episodes' tool calls, whose next requests then form the
    next batch. `linger` is how long a batch waits for company before it starts.
    """

    def __init__(self, engine: GenerationEngine, max_batch: int = 16, linger: float = 0.05):
        self.engine = engine
        self.max_batch = max(1, max_batch)
        self.linger = linger
        self._pending: list[tuple[str, list[int], asyncio.Future]] = []
        self._runner: asyncio.Task | None = None
        self.batches: list[int] = []  # batch sizes, for reports

    async def submit(self, key: str, ids: list[int]) -> GenerationResult:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending.append((key, ids, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            await asyncio.sleep(self.linger)
            batch = [item for item in self._pending[:self.max_batch] if not item[2].done()]
            del self._pending[:self.max_batch]
            if not batch:
                continue
            self.batches.append(len(batch))
            try:
                results = await asyncio.to_thread(self.engine.generate, [(key, ids) for key, ids, _ in batch])
            except Exception as err:  # every waiting episode gets the error, none hangs
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                continue
            for (_, _, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
