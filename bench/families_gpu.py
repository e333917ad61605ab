"""Benchmark: LLaMA-VID and Video-XL at real size with random weights: frames that fit, prefill speed.

1. **Planner** (no weights, meta device): real-size configs written here (LLaMA-VID 7B long-video:
   Vicuna-7B with linear RoPE x16, EVA-ViT-G, the BLIP-2 Q-Former; Video-XL: Qwen2-7B, CLIP-L/336,
   beacon window 1440) through ``longvid.models.memory.plan_for_config`` for ``--memory-gib``
   (the GPU's free memory when there is one): frames that fit by memory, and by positions
   (LLaMA-VID: 65,536 / 2 tokens a frame; Video-XL: its beacons per ratio).
2. **GPU** (CUDA only; otherwise one line says nothing was measured): each family built on the
   device in bfloat16 with random weights. LLaMA-VID: EVA frames/s on a batch, then for growing
   frame counts the held EVA features, the Q-Former (blocks of 64) and the Vicuna prefill of the
   interleaved sequence, until out of memory, past the context, or past ``--max-seconds``.
   Video-XL: CLIP frames/s, then the streaming beacon prefill (``BeaconPrefill``) of growing
   frame counts per ratio, the same stops. Each row: frames, seconds, frames/s, peak GiB.

    python bench/families_gpu.py                     # planner (+ GPU when present)
    python bench/families_gpu.py --smoke             # the measured path on CPU with tiny sizes (a check)
"""

from __future__ import annotations

import argparse
import time

GiB = 1024**3
TEXT = 64  # prompt tokens around the video


def llama_vid_raw(tiny: bool) -> dict:
    from longvid.models.llama_vid.testing import llama_vid_config

    raw = llama_vid_config(32000, 30523, max_positions=4096 if not tiny else 256)
    if not tiny:  # the released sizes: Vicuna-7B; EVA and the Q-Former at their defaults
        raw.update(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                   num_key_value_heads=32, mm_hidden_size=1408)
        for k in ("layer_types", "head_dim"):  # the tiny config's, derived again from the sizes
            raw.pop(k, None)
        raw.pop("longvid_eva_vit")
        raw.pop("longvid_qformer")
    return raw


VIDEOXL_CONTEXT = 32768  # Qwen2-7B-Instruct's positions; --videoxl-context to plan for another


def videoxl_raw(tiny: bool, context: int = VIDEOXL_CONTEXT) -> dict:
    from longvid.models.videoxl.testing import videoxl_config

    raw = videoxl_config(152064, context=context, window=1440 if not tiny else 288, ratios=(2, 4, 8, 16))
    if not tiny:  # Qwen2-7B behind CLIP-L/336 (1024 wide)
        raw.update(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                   num_key_value_heads=4, mm_hidden_size=1024, mm_vision_tower="openai/clip-vit-large-patch14-336",
                   max_window_layers=28)
        for k in ("layer_types", "head_dim"):  # the tiny config's, derived again from the sizes
            raw.pop(k, None)
    return raw


def planner(memory: int, context: int) -> None:
    import torch

    from longvid.models.memory import plan_for_config
    from longvid.models.videoxl.config import VideoXLConfig

    lv = llama_vid_raw(False)
    p = plan_for_config(lv, "llama_vid", device="cuda", dtype=torch.bfloat16, available=memory)
    ctx = 4096 * 16
    print(f"llama_vid 7B long-video: {p.describe()}; positions allow {(ctx - TEXT) // 2} frames")
    for r in (2, 4, 8, 16):
        raw = {**videoxl_raw(False, context), "beacon_ratio": [r]}
        p = plan_for_config(raw, "videoxl", device="cuda", dtype=torch.bfloat16, available=memory)
        c = VideoXLConfig.from_dict(raw)
        by_pos = (c.context_length - TEXT - c.window) * r // c.tokens_per_frame
        print(f"videoxl r={r:<2}: {p.describe()}; positions allow {by_pos} frames")


def grow(step, start: int, limit: int, max_s: float, sync) -> list[tuple[int, float, float]]:
    """Run ``step(frames)`` for doubling frame counts; stop at OOM, ``limit`` or ``max_s``."""
    import torch

    rows, n = [], start
    step(min(start, limit))  # warm-up: kernels, allocator
    sync()
    while n <= limit:
        torch.cuda.reset_peak_memory_stats() if torch.cuda.is_available() else None
        t0 = time.perf_counter()
        try:
            step(n)
            sync()
        except torch.OutOfMemoryError:
            print(f"  {n} frames: out of memory")
            break
        dt = time.perf_counter() - t0
        peak = torch.cuda.max_memory_allocated() / GiB if torch.cuda.is_available() else 0.0
        rows.append((n, dt, peak))
        print(f"  {n:>7} frames  {dt:8.2f} s  {n / dt:9.1f} frames/s  peak {peak:6.1f} GiB", flush=True)
        if dt > max_s / 3:  # the next (double) size would pass the time cap
            break
        n *= 2
    return rows


def measure_llama_vid(dev, dtype, tiny: bool, max_s: float, sync) -> None:
    import torch

    from longvid.encoders.eva_vit import EvaViT
    from longvid.models.llama_vid.config import LlamaVidConfig
    from longvid.models.llama_vid.modules import LlamaVidConnector
    from longvid.models.llm import llm_config
    import transformers

    raw = llama_vid_raw(tiny)
    cfg = LlamaVidConfig.from_dict(raw)
    with torch.device(dev):
        eva = EvaViT(cfg.eva).to(dtype).eval()
        conn = LlamaVidConnector(cfg).to(dtype).eval()
        llm = transformers.LlamaForCausalLM(llm_config(raw, "LlamaConfig")).to(dtype).eval()
    with torch.inference_mode():
        px = torch.randn(32, 3, cfg.eva.image_size, cfg.eva.image_size, device=dev, dtype=dtype)
        eva(px)
        sync()
        t0 = time.perf_counter()
        eva(px)
        sync()
        print(f"llama_vid: EVA-ViT-G {32 / (time.perf_counter() - t0):.1f} frames/s (batch 32)")
        ids = torch.ones(1, 16, dtype=torch.long, device=dev)
        mask = torch.ones_like(ids)

        def step(n):
            feats = torch.randn(n, cfg.eva.grid ** 2 + 1, cfg.eva.width, device=dev, dtype=dtype)  # held frames
            tok = conn(feats, ids, mask).reshape(1, -1, cfg.hidden_size)
            x = torch.cat([torch.zeros(1, TEXT, cfg.hidden_size, device=dev, dtype=dtype), tok], 1)
            llm(inputs_embeds=x, use_cache=True, logits_to_keep=1)

        print("llama_vid: held features + Q-Former + Vicuna prefill")
        grow(step, 8 if tiny else 1024, (cfg.context_length - TEXT) // cfg.tokens_per_frame, max_s, sync)


def measure_videoxl(dev, dtype, tiny: bool, max_s: float, sync) -> None:
    import torch
    import transformers

    from longvid.encoders.vision import encoder_config
    from longvid.models.llm import llm_config
    from longvid.models.videoxl.beacon import BeaconLM, BeaconPrefill
    from longvid.models.videoxl.config import VideoXLConfig
    from longvid.models.videoxl.model import VideoXLConnector

    raw = videoxl_raw(tiny)
    cfg = VideoXLConfig.from_dict(raw)
    with torch.device(dev):
        conn = VideoXLConnector(cfg).to(dtype).eval()
        llm = transformers.Qwen2ForCausalLM(llm_config(raw, "Qwen2Config")).to(dtype).eval()
        if not tiny:
            clip = transformers.CLIPVisionModel(encoder_config("openai/clip-vit-large-patch14-336", "clip")).to(dtype)
            with torch.inference_mode():
                px = torch.randn(32, 3, 336, 336, device=dev, dtype=dtype)
                clip(px, output_hidden_states=True)
                sync()
                t0 = time.perf_counter()
                clip(px, output_hidden_states=True)
                sync()
            print(f"videoxl: CLIP-L/336 {32 / (time.perf_counter() - t0):.1f} frames/s (batch 32)")
            del clip
    lm = BeaconLM(llm, conn, cfg.beacon_param)
    per = cfg.tokens_per_frame
    for r in (16, 8, 4, 2):
        def step(n, r=r):
            pre = BeaconPrefill(lm, window=cfg.window, ratio=r)
            pre.add_text(torch.ones(TEXT, dtype=torch.long, device=dev))
            chunk = cfg.window  # one window of random visual tokens at a time, as frames arrive
            for a in range(0, n * per, chunk):
                b = min(n * per, a + chunk)
                idx = torch.arange(a, b)
                pre.add_video(torch.randn(b - a, cfg.hidden_size, device=dev, dtype=dtype), idx // per,
                              (idx // per).double(), idx % per)
            pre.end_video()
            pre.add_text(torch.ones(16, dtype=torch.long, device=dev), logits=True)

        print(f"videoxl r={r}: streaming beacon prefill")
        grow(step, 4 if tiny else 256, (cfg.context_length - TEXT - cfg.window) * r // per, max_s, sync)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--memory-gib", type=float, default=None, help="memory to plan for (default: the GPU's free, else 80)")
    ap.add_argument("--max-seconds", type=float, default=120.0, help="time cap per family and ratio")
    ap.add_argument("--smoke", action="store_true", help="run the measured path on CPU with tiny sizes")
    ap.add_argument("--videoxl-context", type=int, default=VIDEOXL_CONTEXT, help="Video-XL positions to plan for")
    ap.add_argument("--only", choices=("llama_vid", "videoxl"), default=None)
    args = ap.parse_args()
    import torch

    cuda = torch.cuda.is_available()
    memory = int(args.memory_gib * GiB) if args.memory_gib else (torch.cuda.mem_get_info()[0] if cuda else 80 * GiB)
    print(f"== planner, {memory / GiB:.1f} GiB, bfloat16")
    planner(memory, args.videoxl_context)
    if not cuda and not args.smoke:
        print("no CUDA: measured nothing (the planner's numbers above are all this run gives)")
        return
    dev, dtype = ("cuda", torch.bfloat16) if cuda and not args.smoke else ("cpu", torch.float32)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    print(f"== measured on {torch.cuda.get_device_name() if dev == 'cuda' else 'cpu (smoke, tiny sizes)'}")
    if args.only in (None, "llama_vid"):
        measure_llama_vid(dev, dtype, args.smoke, args.max_seconds, sync)
        torch.cuda.empty_cache() if dev == "cuda" else None
    if args.only in (None, "videoxl"):
        measure_videoxl(dev, dtype, args.smoke, args.max_seconds, sync)


if __name__ == "__main__":
    main()
