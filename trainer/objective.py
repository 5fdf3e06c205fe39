"""The training objective as one module, so DDP sees a single forward and syncs LoRA gradients.

It returns the *sum* of token losses over assistant targets; the loop divides by the number of
assistant tokens in the whole optimizer step (all micro-batches, all ranks), so every assistant
token weighs the same however documents were packed. Only the positions with a target go
through the LM head: on a 49k-vocabulary model that skips most of the largest matmul and most
of the logits memory.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainer.data import IGNORE_INDEX


class AssistantTokenLoss(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model  # a peft model (or a plain causal LM)

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor, targets: torch.Tensor,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        causal_lm = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        backbone = getattr(causal_lm, causal_lm.base_model_prefix, None)
        selected = targets != IGNORE_INDEX
        if backbone is None:
            logits = causal_lm(input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask,
                               use_cache=False).logits[selected]
        else:
            # No attention mask + per-document position_ids = packed documents attend only to themselves.
            hidden = backbone(input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask,
                              use_cache=False).last_hidden_state
            logits = causal_lm.get_output_embeddings()(hidden[selected])
        return F.cross_entropy(logits.float(), targets[selected], reduction="sum")
