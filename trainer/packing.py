"""Padding-free packing: best-fit-decreasing bins and the tensors of one packed micro-batch.

A bin is a list of document indices whose lengths sum to at most `capacity` tokens. A packed
micro-batch is one row: the documents concatenated, `position_ids` restarting at 0 for each
document. With no attention mask, those restarts keep attention inside each document (one SDPA
call per document with `trainer.attention`, varlen cu_seqlens with flash-attention, a
block-diagonal causal mask with stock sdpa/eager), so the loss equals the loss of the documents
run one by one.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence
from dataclasses import dataclass

from trainer.data import IGNORE_INDEX, Document


def best_fit_decreasing(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Pack item indices into as few bins of `capacity` as best-fit-decreasing finds.

    Deterministic: ties in length keep input order, ties in remaining space pick the oldest bin.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    # Remaining space of each open bin, kept sorted as (space, bin index) for a bisect best-fit lookup.
    free: list[tuple[int, int]] = []
    for item in order:
        size = lengths[item]
        if size > capacity:
            raise ValueError(f"item {item} has {size} tokens, more than the bin capacity {capacity}")
        slot = bisect.bisect_left(free, (size, -1))
        if slot == len(free):
            bins.append([item])
            bisect.insort(free, (capacity - size, len(bins) - 1))
            continue
        space, bin_index = free.pop(slot)
        bins[bin_index].append(item)
        bisect.insort(free, (space - size, bin_index))
    return bins


@dataclass
class PackedBatch:
    """One micro-batch as plain Python lists; `to_tensors` makes the model inputs."""

    input_ids: list[int]
    position_ids: list[int]
    targets: list[int]
    doc_lengths: list[int]

    @property
    def n_tokens(self) -> int:
        return len(self.input_ids)

    @property
    def n_target_tokens(self) -> int:
        return sum(1 for t in self.targets if t != IGNORE_INDEX)

    def to_tensors(self, device) -> dict:
        import torch

        return {
            "input_ids": torch.tensor([self.input_ids], dtype=torch.long, device=device),
            "position_ids": torch.tensor([self.position_ids], dtype=torch.long, device=device),
            "targets": torch.tensor([self.targets], dtype=torch.long, device=device),
        }


def pack_documents(documents: Sequence[Document], indices: Sequence[int]) -> PackedBatch:
    input_ids: list[int] = []
    position_ids: list[int] = []
    targets: list[int] = []
    lengths = []
    for index in indices:
        doc = documents[index]
        input_ids.extend(doc.input_ids)
        targets.extend(doc.targets)
        position_ids.extend(range(len(doc)))
        lengths.append(len(doc))
    return PackedBatch(input_ids, position_ids, targets, lengths)


class BinStream:
    """The endless, seeded sequence of packed micro-batches one training phase consumes.

    Epoch `e` visits every bin once in an order drawn from `(seed, e)`; position `p` of the stream
    is bin `order_e[p % n]` with `e = p // n`. Training step `s` with `per_step` micro-batches
    (grad-accum x world size) reads positions `s*per_step ... s*per_step + per_step - 1`, so any
    rank can find its batches, and the exact loss normaliser, from the step number alone. That
    is what makes resuming and DDP sharding deterministic.
    """

    def __init__(self, documents: Sequence[Document], capacity: int, seed: int):
        self.documents = documents
        self.bins = best_fit_decreasing([len(d) for d in documents], capacity)
        self.seed = seed
        self._orders: dict[int, list[int]] = {}
        self._target_counts = [sum(documents[i].n_target_tokens for i in b) for b in self.bins]
        self._token_counts = [sum(len(documents[i]) for i in b) for b in self.bins]

    def __len__(self) -> int:
        return len(self.bins)

    def _bin_at(self, position: int) -> int:
        epoch, offset = divmod(position, len(self.bins))
        if epoch not in self._orders:
            order = list(range(len(self.bins)))
            random.Random(f"{self.seed}/{epoch}").shuffle(order)
            self._orders = {epoch: order}  # only the current epoch is ever needed again
        return self._orders[epoch][offset]

    def batch(self, position: int) -> PackedBatch:
        return pack_documents(self.documents, self.bins[self._bin_at(position)])

    def target_tokens(self, position: int) -> int:
        return self._target_counts[self._bin_at(position)]

    def tokens(self, position: int) -> int:
        return self._token_counts[self._bin_at(position)]
