"""Text generation from spliced embeddings, with streaming output.

Design decisions:
- Generation is transformers' ``generate`` on ``inputs_embeds`` (the visual tokens are already in
  the sequence), so every decoding option of transformers works unchanged.
- Streaming is a callback: ``on_text(piece)`` receives each newly decoded piece of text as soon as
  its tokens exist (full-sequence decode, emitting only the new suffix, so multi-token characters
  are never split). No thread is needed; a UI can forward the pieces wherever it likes.
- Stops at the tokenizer's end-of-sequence token and at the chat template's end-of-turn token
  when the vocabulary has one (``<|im_end|>`` for ChatML, ``<|eot_id|>`` for Llama-3).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

_END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|endoftext|>")


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 128  # LongVU demo
    do_sample: bool = True  # LongVU demo samples; evaluation uses greedy (do_sample=False)
    temperature: float = 0.2  # LongVU demo
    top_p: float = 0.7  # LongVU demo

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.do_sample and not (self.temperature > 0 and 0 < self.top_p <= 1):
            raise ValueError(f"sampling needs temperature > 0 and 0 < top_p <= 1, got "
                             f"{self.temperature}, {self.top_p}")


class CallbackStreamer:
    """A transformers streamer (``put``/``end``) that calls ``on_text`` with each new piece."""

    def __init__(self, tokenizer, on_text: Callable[[str], None]) -> None:
        self.tokenizer = tokenizer
        self.on_text = on_text
        self.ids: list[int] = []
        self.emitted = ""
        self._first = True

    def put(self, value) -> None:
        if self._first:  # generate() first hands over the prompt ids (empty with inputs_embeds)
            self._first = False
            return
        self.ids.extend(int(v) for v in value.reshape(-1).tolist())
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # an incomplete multi-byte character: wait for the rest
            return
        if len(text) > len(self.emitted) and text.startswith(self.emitted):
            self.on_text(text[len(self.emitted):])
            self.emitted = text

    def end(self) -> None:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if len(text) > len(self.emitted) and text.startswith(self.emitted):
            self.on_text(text[len(self.emitted):])
            self.emitted = text


def stop_token_ids(tokenizer) -> list[int]:
    ids = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    vocab = tokenizer.get_vocab()
    for t in _END_OF_TURN:
        if t in vocab:
            ids.add(int(vocab[t]))
    return sorted(ids)


def generate(model, tokenizer, inputs_embeds, attention_mask, config: GenerationConfig,
             on_text: Callable[[str], None] | None = None) -> tuple[str, int]:
    """Generate from ``inputs_embeds``; returns (text, number of new tokens)."""
    import torch

    kwargs = dict(max_new_tokens=config.max_new_tokens, do_sample=config.do_sample)
    if config.do_sample:
        kwargs.update(temperature=config.temperature, top_p=config.top_p)
    stops = stop_token_ids(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (stops[0] if stops else 0)
    streamer = CallbackStreamer(tokenizer, on_text) if on_text is not None else None
    with torch.inference_mode():
        out = model.generate(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                             eos_token_id=stops or None, pad_token_id=pad, streamer=streamer, **kwargs)
    new = out[0]
    if new.numel() and int(new[-1]) in stops:
        new = new[:-1]
    return tokenizer.decode(new, skip_special_tokens=True).strip(), int(out.shape[1])
