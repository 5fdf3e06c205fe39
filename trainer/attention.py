"""Attention for packed rows without flash-attention: one causal SDPA call per document.

transformers' `sdpa` path turns packed `position_ids` into a dense block-diagonal L x L mask, and
SDPA then scores every pair of positions in the row, masked or not: a row of four 1,024-token
documents pays for a 4,096-token attention, four times the work it needs, plus the mask itself
(and a mask also keeps SDPA off its fastest kernels). Flash-attention's varlen kernel avoids this
with `cu_seqlens`, but it is a CUDA-only extra package. This implementation does the same with
plain `torch.nn.functional.scaled_dot_product_attention`: it finds the document boundaries from
the `position_ids` the model passes down to attention (each document restarts at 0) and runs a
causal SDPA per document, so the cost is the sum of the documents' squared lengths, on CPU and
on GPU. Anything that is not a packed training row (decoding with a cache, padded batches) goes
to the stock `sdpa` function unchanged.

Registered with transformers' `AttentionInterface` / `AttentionMaskInterface` under `NAME`;
`load_base_model(..., attn_implementation=NAME)` selects it. Needs only torch and transformers.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

NAME = "envhub_packed_sdpa"

_registered = False
# The position_ids tensor of the current forward and its document bounds: every layer of one
# forward receives the same tensor object, so the bounds (one device-to-host copy) are found once.
_bounds_memo: tuple[torch.Tensor | None, list[tuple[int, int]]] = (None, [])


def register() -> str:
    """Make `NAME` a valid `attn_implementation` (idempotent); returns the name."""
    global _registered
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface

        AttentionInterface.register(NAME, packed_sdpa_attention)
        AttentionMaskInterface.register(NAME, _packed_mask)
        _registered = True
    return NAME


def document_bounds(position_ids: torch.Tensor) -> list[list[tuple[int, int]]]:
    """Per row of a (B, L) tensor whose positions restart at 0 per document: [(start, end), ...]."""
    global _bounds_memo
    if _bounds_memo[0] is position_ids:
        return _bounds_memo[1]
    bounds = []
    for row in position_ids:
        starts = torch.nonzero(row == 0).flatten().tolist()
        if not starts or starts[0] != 0:
            starts = [0, *starts]
        bounds.append(list(zip(starts, [*starts[1:], row.shape[0]], strict=True)))
    _bounds_memo = (position_ids, bounds)
    return bounds


def packed_sdpa_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                          attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                          **kwargs: Any) -> tuple[torch.Tensor, None]:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if attention_mask is not None or query.shape[2] == 1 or query.shape[2] != key.shape[2]:
        # Padded batches and decoding: the stock path, with the mask transformers built for it.
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    position_ids = kwargs.get("position_ids")
    if position_ids is None or kwargs.get("sliding_window") is not None:
        # Without positions the documents of a packed row cannot be told apart, and a sliding window
        # is not applied here: either way the result would silently be wrong.
        raise RuntimeError(f"{NAME}: needs position_ids passed to attention and no sliding window; "
                           "train this model with --attn sdpa")
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:  # grouped-query attention: one K/V head serves `groups` query heads
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    rows = []
    for b, bounds in enumerate(document_bounds(position_ids)):
        q, k, v = query[b:b + 1], key[b:b + 1], value[b:b + 1]
        if len(bounds) == 1:
            rows.append(F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, scale=scaling, is_causal=True))
            continue
        rows.append(torch.cat([
            F.scaled_dot_product_attention(q[:, :, s:e], k[:, :, s:e], v[:, :, s:e], dropout_p=dropout,
                                           scale=scaling, is_causal=True)
            for s, e in bounds
        ], dim=2))
    out = rows[0] if len(rows) == 1 else torch.cat(rows, dim=0)
    return out.transpose(1, 2).contiguous(), None


def _packed_mask(*args: Any, **kwargs: Any) -> torch.Tensor | None:
    """No mask for unpadded rows (document bounds come from position_ids); the stock SDPA mask otherwise."""
    from transformers.masking_utils import sdpa_mask

    attention_mask = kwargs.get("attention_mask")
    if attention_mask is None or bool(attention_mask.all()):
        return None
    return sdpa_mask(*args, **kwargs)
