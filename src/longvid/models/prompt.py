"""Prompt assembly: the chat template, the ``<image>`` placeholder, and the embedding splice.

Design decisions:
- The prompt is the tokenizer's own chat template applied to ``<image>\\n{question}`` (ChatML for
  Qwen2 with "You are a helpful assistant.", Llama-3 for Llama-3.2), rendered as text and split
  at the single ``<image>`` placeholder. Each side is tokenized without adding special tokens
  (the template already wrote them). The placeholder itself never becomes a token, whether or not
  the vocabulary has an ``<image>`` entry.
- Visual tokens are spliced in as embeddings where ``<image>`` stood; their number is whatever the
  compressor returned (``len(VisualTokens)``), never recomputed here.
- The text after the placeholder (question and template tail) is what LongVU's query-guided
  resolution ranks frames against, so :class:`PromptParts` keeps it separately.
- A tokenizer without a chat template gets ChatML, with a warning naming the fallback.
- The Llama-3.2 template writes "Today Date: ..." into the system block, today's date by
  default, so the same question gave a different prompt every day. ``date_string`` is passed to
  the template: by default ``RELEASED_DATE_STRING``, what the released LongVU environment
  rendered (it pins transformers 4.42.4, whose templates have no ``strftime_now``, so the
  Llama-3.2 template fell back to its fixed date); ``None`` lets the template choose (today).
  Templates that do not use the variable (ChatML) ignore it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

IMAGE_PLACEHOLDER = "<image>"
DEFAULT_SYSTEM = "You are a helpful assistant."  # LongVU's and LongVA's Qwen2 conversation template
# the date line the released LongVU_Llama3_2 environment rendered (the template's own fallback)
RELEASED_DATE_STRING = "26 Jul 2024"

_CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class PromptParts:
    text: str  # the whole rendered prompt, with the placeholder
    before_ids: torch.Tensor  # (P,) int64 token ids before the placeholder
    after_ids: torch.Tensor  # (Q,) int64 token ids after it: question + template tail

    @property
    def num_text_tokens(self) -> int:
        return int(self.before_ids.numel() + self.after_ids.numel())


def render(tokenizer, question: str, *, system: str | None = DEFAULT_SYSTEM,
           date_string: str | None = RELEASED_DATE_STRING) -> str:
    if IMAGE_PLACEHOLDER in question:
        raise ValueError(f"the question must not contain {IMAGE_PLACEHOLDER!r}; the video goes there")
    messages = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": f"{IMAGE_PLACEHOLDER}\n{question}"})
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        logger.warning("the tokenizer has no chat template; using ChatML")
        template = _CHATML
    extra = {} if date_string is None else {"date_string": date_string}
    return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                         add_generation_prompt=True, **extra)


def build_prompt(tokenizer, question: str, *, system: str | None = DEFAULT_SYSTEM,
                 date_string: str | None = RELEASED_DATE_STRING) -> PromptParts:
    import torch

    text = render(tokenizer, question, system=system, date_string=date_string)
    if text.count(IMAGE_PLACEHOLDER) != 1:
        raise ValueError(f"the chat template must keep exactly one {IMAGE_PLACEHOLDER!r}, got {text!r}")
    before, after = text.split(IMAGE_PLACEHOLDER)

    def ids(s: str) -> torch.Tensor:
        return torch.tensor(tokenizer(s, add_special_tokens=False)["input_ids"], dtype=torch.long)

    return PromptParts(text=text, before_ids=ids(before), after_ids=ids(after))


def splice(embed, parts: PromptParts, visual: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``[embed(before), visual, embed(after)]`` as ``(1, L, H)`` plus a ``(1, L)`` attention mask.

    ``embed`` is the LLM's input embedding module; ``visual`` is ``(M, H)``, cast to its dtype.
    """
    import torch

    w = embed.weight
    pre = embed(parts.before_ids.to(w.device))
    post = embed(parts.after_ids.to(w.device))
    x = torch.cat([pre, visual.to(device=w.device, dtype=w.dtype), post], dim=0)
    return x.unsqueeze(0), torch.ones(1, x.shape[0], dtype=torch.long, device=w.device)
