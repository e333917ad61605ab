"""Benchmark: how many frames a 7B video-LLM prefills on one GPU, with and without compression.

Random-weight models at the released sizes (Qwen2-7B: LongVA-7B's and LongVU_Qwen2_7B's LLM),
bfloat16, SDPA attention, built straight on the device (nothing downloaded). For each setting the
frame count doubles until the prefill runs out of memory, then a bisection finds the largest
count that fits; the planner's prediction (``longvid.models.memory``) is printed beside it as the
reference, with the ratio measured / predicted, and prefill throughput in tokens per second.

- ``longva``: 144 tokens per frame, no compression: the sequence grows with the frames.
- ``longvu``: compressed into the 8192-token context: the sequence stays at the budget; what grows
  is the projected 12x12 tokens held per kept frame before compression (counted, and allocated
  here, so the run shows where memory goes).

    python bench/models_frames.py                      # needs CUDA; about 5-10 minutes on an H100
    python bench/models_frames.py --tiny --device cpu  # the same code path on a tiny model
"""

from __future__ import annotations

import argparse
import time

QWEN2_7B = dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                num_key_value_heads=4, vocab_size=152064, max_position_embeddings=262144, rope_theta=1e9)
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=1000, max_position_embeddings=262144)


def build(cfg: dict, device: str, dtype):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    with torch.device(device):
        model = Qwen2ForCausalLM(Qwen2Config(**cfg, attn_implementation="sdpa")).to(dtype)
    return model.eval()


def prefill(model, tokens: int, device: str, dtype, held: int = 0) -> float | None:
    """Seconds for one prefill of ``tokens`` random embeddings (None on out-of-memory)."""
    import torch

    h = model.config.hidden_size
    try:
        keep = torch.empty(held, h, device=device, dtype=dtype) if held else None
        x = torch.randn(1, tokens, h, device=device, dtype=dtype)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.inference_mode():
            model(inputs_embeds=x, use_cache=True, logits_to_keep=1)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        del keep, x
        return time.perf_counter() - t0
    except torch.OutOfMemoryError:
        return None
    finally:
        if device.startswith("cuda"):
            torch.cuda.empty_cache()


def max_frames(fits, start: int, limit: int) -> tuple[int, float]:
    """Largest n with fits(n) not None: doubling, then bisection. Returns (n, seconds at n)."""
    lo, t_lo, n = 0, 0.0, start
    while n <= limit:
        t = fits(n)
        if t is None:
            break
        lo, t_lo, n = n, t, n * 2
    hi = min(n, limit + 1)
    while hi - lo > max(1, lo // 50):  # 2% resolution
        mid = (lo + hi) // 2
        t = fits(mid)
        if t is None:
            hi = mid
        else:
            lo, t_lo = mid, t
    return lo, t_lo


def main() -> None:
    import torch

    from longvid.compress.budget import DEFAULTS
    from longvid.models.memory import plan_for_config

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="a tiny LLM (checks the code path anywhere)")
    ap.add_argument("--limit", type=int, default=20000, help="stop searching at this many frames")
    args = ap.parse_args()
    dtype = torch.bfloat16
    cfg = TINY if args.tiny else QWEN2_7B
    model = build(cfg, args.device, dtype)
    text = 64
    longva_keys = dict(model_type="llava_qwen", mm_vision_tower="openai/clip-vit-large-patch14-336",
                       mm_projector_type="mlp2x_gelu", mm_patch_merge_type="unires")
    longvu_keys = dict(model_type="cambrian_qwen", mm_projector_type="sva", vision_hidden_size=1024,
                       mm_vision_tower_aux_list=["siglip/CLIP-ViT-SO400M-14-384", "facebook/dinov2-giant-res378"],
                       mm_vision_tower_aux_token_len_list=[576, 576], query_num_list=[144],
                       image_token_len=144, tokenizer_model_max_length=8192)
    print(f"device {args.device}, {'tiny' if args.tiny else 'Qwen2-7B'} LLM, bfloat16")

    n, t = max_frames(lambda k: prefill(model, k * 144 + text, args.device, dtype), 64, args.limit)
    plan = plan_for_config({**cfg, **longva_keys}, "longva", device=args.device, dtype=dtype)
    pred = plan.frames_that_fit
    print(f"longva (no compression): {n} frames fit{' (search limit)' if n >= args.limit else ''} "
          f"({n * 144} visual tokens), prefill "
          f"{(n * 144 + text) / max(t, 1e-9):,.0f} tok/s; planner {pred} frames "
          f"(ratio {n / max(pred or 1, 1):.2f}; the planner also counts the vision encoder)")

    budget = 8192 - text - DEFAULTS.reserve
    h = cfg["hidden_size"]
    rows_per_frame = 144 * (1024 + h) / h  # aggregated (1024-wide) + projected tokens of a kept frame
    n2, t2 = max_frames(lambda k: prefill(model, budget + text, args.device, dtype,
                                          held=int(k * rows_per_frame)), 1024, args.limit)
    plan2 = plan_for_config({**cfg, **longvu_keys}, "longvu", device=args.device, dtype=dtype)
    print(f"longvu (compressed to {budget} tokens): {n2} frames fit{' (search limit)' if n2 >= args.limit else ''}, "
          f"prefill {(budget + text) / max(t2, 1e-9):,.0f} tok/s; planner {plan2.frames_that_fit} frames "
          f"(ratio {n2 / max(plan2.frames_that_fit or 1, 1):.2f})")


if __name__ == "__main__":
    main()
