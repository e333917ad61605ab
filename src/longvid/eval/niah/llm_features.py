"""Feature-level access to a video-LLM engine, for V-NIAH as LongVA runs it.

Design decisions:
- Wraps a ``longvid.models`` engine whose model declares ``per_frame_tokens`` (LongVA: CLIP,
  projector, 2x2 pool, 144 tokens per frame, frames concatenated with no separators). It gives
  ``FeatureEngineAdapter`` the three calls it needs: ``encode_frames`` (frames -> per-frame
  tokens), ``generate_from_features`` (greedy generation) and ``greedy_match_from_features``
  (LongVA's "PPL-based" score: the answer appended, one forward pass, correct only if the argmax
  at every answer position is the answer token).
- Frames are centre-cropped and resized to the encoder's size, as the LongVA engine samples them.
- No compression here: V-NIAH measures the model's own long context. A cell whose tokens exceed
  the context budget raises ``BudgetError`` (recorded in that cell), never silently truncated.
- LongVU is not wrapped: its DINO frame reduction runs on the whole sequence, so inserting a
  needle after encoding would not be what LongVU sees; use the video adapter for it.
"""

from __future__ import annotations

import numpy as np

from longvid.errors import BudgetError, LongvidError


def _crop_resize(frames: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    out = []
    for f in frames:
        h, w = f.shape[:2]
        s = min(h, w)
        y, x = (h - s) // 2, (w - s) // 2
        out.append(np.asarray(Image.fromarray(f[y : y + s, x : x + s]).resize((side, side), Image.BICUBIC)))
    return np.stack(out)


class VideoLLMFeatures:
    def __init__(self, engine, *, max_new_tokens: int = 32) -> None:
        from longvid.models.video_llm import VideoLLM

        model = getattr(engine, "model", None)
        if not isinstance(model, VideoLLM) or not model.per_frame_tokens:
            raise LongvidError(
                f"engine {getattr(engine, 'name', engine)!r} does not declare per-frame tokens (a stage of "
                "its model looks across frames, or it has no frame-level encoder); use the video adapter for it"
            )
        self.engine = engine
        self.model = model
        self.name = engine.name
        self.max_new_tokens = max_new_tokens
        self.encode_calls = 0  # frames encoded so far: shows the haystack is encoded once

    def encode_frames(self, frames: np.ndarray):
        from longvid.types import FrameBatch

        side = self.model.config.image_size
        x = _crop_resize(np.asarray(frames), side)
        n = len(x)
        self.encode_calls += n
        zeros = np.zeros(n, np.float64)
        feats = self.model.frame_tokens([FrameBatch(x, zeros, zeros, np.arange(n, dtype=np.int64))])
        return feats.features  # (T, tokens_per_frame, H)

    def _embeds(self, features, question: str, extra_ids=None):
        import torch

        from longvid.models.prompt import PromptParts, build_prompt, splice

        m = self.model
        parts = build_prompt(m.tokenizer, question, system=self.engine.config.system)
        if extra_ids is not None:
            parts = PromptParts(parts.text, parts.before_ids, torch.cat([parts.after_ids, extra_ids]))
        tokens = features.reshape(-1, features.shape[-1])
        text_tokens = len(parts.before_ids) + len(parts.after_ids)
        budget = m.context_budget(text_tokens, self.engine.config.context_length)
        if len(tokens) > budget:
            raise BudgetError(
                f"{len(tokens)} visual tokens exceed the context budget of {budget}: "
                "use fewer frames or a model with a longer context"
            )
        with torch.inference_mode():
            return splice(m.llm.get_input_embeddings(), parts, tokens)

    def generate_from_features(self, features, question: str, *, max_new_tokens: int | None = None) -> str:
        from longvid.models.generate import GenerationConfig, generate

        embeds, mask = self._embeds(features, question)
        cfg = GenerationConfig(max_new_tokens=max_new_tokens or self.max_new_tokens, do_sample=False)
        text, _ = generate(self.model.llm, self.model.tokenizer, embeds, mask, cfg)
        return text

    def greedy_match_from_features(self, features, question: str, answer: str) -> bool:
        import torch

        from longvid.eval.scoring import teacher_forced_exact_match

        ids = torch.tensor(
            self.model.tokenizer(answer, add_special_tokens=False)["input_ids"], dtype=torch.long
        )
        if ids.numel() == 0:
            return False
        embeds, mask = self._embeds(features, question, extra_ids=ids)
        with torch.inference_mode():
            logits = self.model.llm(inputs_embeds=embeds, attention_mask=mask).logits[0]
        t, n = logits.shape[0], len(ids)
        # the logit at position p predicts token p+1: the answer's tokens sit at t-n .. t-1
        return teacher_forced_exact_match(logits[t - n - 1 : t - 1].float(), ids)
