"""Benchmark: how many frames the transformers-native video-LLMs take, with and without each compressor.

Three parts, each printed as a table:

1. **Planner** (CPU, no weights): the real-size configs of the families' ``testing`` modules
   (Qwen2.5-VL-7B, Qwen3-VL-8B, LLaVA-OneVision-7B) through longvid's own memory planner
   (``longvid.models.memory.plan_for_config``: the whole transformers model counted on the meta
   device; per frame its held tokens and its tower activations, all frames in the tower at once;
   per LLM token its KV cache and one layer's prefill activations). For a device of
   ``--memory-gib`` (the free memory of the GPU when there is one), the most frames that fit with
   each compressor (its own ``token_count`` at the planning frame, via the family's
   ``planned_tokens``), limited by memory and by the model's context, and the ratio to no
   compression.
2. **Prefill** (CPU): tiny random checkpoints of each family (``*.testing``), ``--frames``
   frames of a still video through the whole path, the LLM prefill time of the prepared
   sequence with each compressor and its ratio to no compression; then a small Qwen2 LLM
   (hidden 256, 4 layers) prefilling the sequence each compressor gives ``--llm-frames`` frames
   at the real models' tokens per frame, where the ratios are not lost in per-call overhead.
3. **GPU** (only when CUDA is available; skipped with a message otherwise): each real-size LLM
   in bfloat16 with random weights built on the device, and for each compressor the largest
   frame count whose prefill (sequence from the compressor's layout, plus the held tokens of
   every frame allocated) runs, by doubling then bisection; printed beside the planner's figure.

    python bench/vlm_frames.py                       # planner + CPU prefill (+ GPU when present)
    python bench/vlm_frames.py --memory-gib 24 --frames 32
"""

from __future__ import annotations

import argparse
import time

GiB = 1024**3

from longvid.models.llava_onevision.testing import LLAVA_ONEVISION_7B
from longvid.models.qwen_vl.testing import QWEN2_5_VL_7B, QWEN3_VL_8B

CONFIGS = {"qwen2_5_vl": QWEN2_5_VL_7B, "qwen3_vl": QWEN3_VL_8B, "llava_onevision": LLAVA_ONEVISION_7B}
CLASSES = {"qwen2_5_vl": ("Qwen2_5_VLConfig", "Qwen2_5_VLForConditionalGeneration"),
           "qwen3_vl": ("Qwen3VLConfig", "Qwen3VLForConditionalGeneration"),
           "llava_onevision": ("LlavaOnevisionConfig", "LlavaOnevisionForConditionalGeneration")}
COMPRESSORS = ("none", "uniform", "longvu_temporal", "avg_pool_2x2")
BUDGET = 8192  # the video-token budget of the bounded compressors in this bench
TEXT_TOKENS = 128  # prompt text around the video


def hf_config(family: str, raw: dict):
    import transformers

    cfg_cls = getattr(transformers, CLASSES[family][0])
    return cfg_cls(**{k: v for k, v in raw.items() if k != "model_type"})


def planned(family: str, raw: dict, compressor: str, frames: int) -> int:
    """LLM sequence tokens for ``frames`` frames at the planning size: the family's own count
    (its compressor's ``token_count`` over the planning grid) plus the prompt text."""
    from longvid.models.registry import get_family

    fam = get_family(family)()
    return fam.planned_tokens(fam.parse_config(raw), frames, compressor, BUDGET) + TEXT_TOKENS


def plan_frames(family: str, raw: dict, compressor: str, available: int) -> dict:
    """The most frames that fit, from ``longvid.models.memory.plan_for_config`` (weights counted
    on the meta device; per frame its held tokens and tower activations; the LLM sequence's KV
    cache and one layer's activations per token), and the sequence within the model's context."""
    import torch

    from longvid.models.memory import plan_for_config
    from longvid.models.registry import get_family

    plan = plan_for_config(raw, family, dtype=torch.bfloat16, available=available)
    fam = get_family(family)()
    ctx = fam.memory_profile(fam.parse_config(raw)).context_length
    by_memory = plan.frames_for(lambda n: planned(family, raw, compressor, n))
    lo, hi = 0, 1  # the context's limit: largest n whose sequence fits in it
    while planned(family, raw, compressor, hi) <= ctx and hi < 10**7:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if planned(family, raw, compressor, mid) <= ctx else (lo, mid)
    frames = min(by_memory, lo)
    return {"frames": frames, "weights_gib": plan.weights_bytes / GiB, "tokens_per_frame": plan.tokens_per_frame,
            "limit": "context" if lo < by_memory else "memory"}


def planner_table(memory: int) -> None:
    print(f"\n== planner: most frames that fit in {memory / GiB:.1f} GiB (bf16, random weights on meta) ==")
    print(f"{'family':16} {'compressor':16} {'frames':>8} {'x none':>7}  limit    weights")
    for fam, raw in CONFIGS.items():
        base = None
        for comp in COMPRESSORS:
            r = plan_frames(fam, raw, comp, memory)
            base = base or max(1, r["frames"])
            print(f"{fam:16} {comp:16} {r['frames']:>8} {r['frames'] / base:>7.1f}  {r['limit']:8} "
                  f"{r['weights_gib']:.1f} GiB ({r['tokens_per_frame']} tok/frame)")


def still(n: int, h: int, w: int):
    import numpy as np

    frames = np.full((n, h, w, 3), 90, np.uint8)
    frames[:, h // 4: h // 2, w // 4: w // 2] = (200, 30, 30)
    return frames, np.arange(n) / 2.0


def prefill_table(frames: int, repeats: int = 3) -> None:
    import tempfile
    from pathlib import Path

    import torch

    from longvid.models.llava_onevision.model import OnevisionModel, SampledFrames
    from longvid.models.llava_onevision.testing import make_llava_onevision
    from longvid.models.qwen_vl.model import QwenVLModel, SampledVideo
    from longvid.models.qwen_vl.testing import make_qwen2_5_vl, make_qwen3_vl

    print(f"\n== prefill on CPU: tiny random checkpoints, {frames} frames of a still ==")
    print(f"{'family':16} {'compressor':16} {'tokens':>7} {'prefill ms':>11} {'x none':>7}")
    with tempfile.TemporaryDirectory() as d:
        models = {"qwen2_5_vl": QwenVLModel.from_pretrained(make_qwen2_5_vl(Path(d) / "q25")),
                  "qwen3_vl": QwenVLModel.from_pretrained(make_qwen3_vl(Path(d) / "q3")),
                  "llava_onevision": OnevisionModel.from_pretrained(make_llava_onevision(Path(d) / "ov"))}
        for fam, m in models.items():
            if fam == "llava_onevision":
                f, ts = still(frames, 98, 98)
                video, budget = SampledFrames(f, ts), frames * 16 // 4
            else:
                f, ts = still(frames, 84, 112)
                video, budget = SampledVideo(f, ts, 2.0), frames * 6 // 4
            base = None
            for comp in COMPRESSORS:
                try:
                    prep = m.prepare(video, "what is red in this video ?", compressor=comp, budget=budget)
                except Exception as exc:  # a compressor this family refuses: say so, go on
                    print(f"{fam:16} {comp:16} refused: {type(exc).__name__}")
                    continue
                deep = getattr(prep, "deepstack", None)
                times = []
                with torch.inference_mode():
                    for _ in range(repeats + 1):  # the first is a warm-up
                        t0 = time.perf_counter()
                        if deep is not None:
                            m.forward(prep.inputs_embeds, prep.position_ids, deepstack=deep,
                                      visual_mask=prep.input_ids == m.video_token_id)
                        else:
                            m.model(inputs_embeds=prep.inputs_embeds, position_ids=prep.position_ids)
                        times.append(time.perf_counter() - t0)
                ms = 1000 * min(times[1:])
                base = base or ms
                print(f"{fam:16} {comp:16} {prep.input_ids.shape[1]:>7} {ms:>11.2f} {ms / base:>7.2f}")


SMALL_LLM = dict(hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=1000, max_position_embeddings=262144)


def llm_prefill_table(frames: int) -> None:
    """A small Qwen2 LLM on CPU prefilling the sequence each compressor gives ``frames`` frames
    at the real models' tokens per frame (capped at 65,536 tokens)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from longvid.models.registry import get_family

    torch.manual_seed(0)
    llm = Qwen2ForCausalLM(Qwen2Config(**SMALL_LLM, attn_implementation="sdpa")).eval()
    print(f"\n== prefill on CPU: small LLM (hidden 256, 4 layers), {frames} frames at real tokens per frame ==")
    print(f"{'family':16} {'compressor':16} {'tokens':>7} {'prefill s':>10} {'x none':>7}")
    for fam, raw in CONFIGS.items():
        base = None
        for comp in COMPRESSORS:
            seq = min(65_536, planned(fam, raw, comp, frames))
            x = torch.randn(1, seq, SMALL_LLM["hidden_size"])
            with torch.inference_mode():
                t0 = time.perf_counter()
                llm(inputs_embeds=x, use_cache=True, logits_to_keep=1)
                sec = time.perf_counter() - t0
            base = base or sec
            print(f"{fam:16} {comp:16} {seq:>7} {sec:>10.3f} {sec / base:>7.2f}")


def gpu_table() -> None:
    import torch

    if not torch.cuda.is_available():
        print("\n== GPU: skipped (no CUDA device here); run on a GPU machine for measured frame counts ==")
        return
    import transformers

    free, _ = torch.cuda.mem_get_info()
    print(f"\n== GPU: measured prefill limits, {free / GiB:.1f} GiB free (LLM only, bf16, random weights) ==")
    print(f"{'family':16} {'compressor':16} {'measured':>9} {'planned':>8}")
    for fam, raw in CONFIGS.items():
        cfg = hf_config(fam, raw)
        text = cfg.text_config
        torch.cuda.empty_cache()
        with torch.device("cuda"):
            llm = transformers.AutoModelForCausalLM.from_config(text, dtype=torch.bfloat16,
                                                                attn_implementation="sdpa").eval()
        from longvid.models.registry import get_family

        f = get_family(fam)()
        prof = f.memory_profile(f.parse_config(raw))
        tokens, width = prof.held_tokens_per_frame, prof.held_width
        left = torch.cuda.mem_get_info()[0]
        for comp in COMPRESSORS:
            def runs(n: int) -> bool:
                try:
                    held = torch.empty(n * tokens, width, device="cuda", dtype=torch.bfloat16)
                    seq = planned(fam, raw, comp, n)
                    if seq > prof.context_length:
                        return False
                    x = torch.randn(1, seq, text.hidden_size, device="cuda", dtype=torch.bfloat16)
                    with torch.inference_mode():
                        llm(inputs_embeds=x, use_cache=True, logits_to_keep=1)
                    del held, x
                    return True
                except torch.OutOfMemoryError:
                    return False
                finally:
                    torch.cuda.empty_cache()

            lo, hi = 0, 8
            while runs(hi) and hi < 1 << 20:
                lo, hi = hi, hi * 2
            while hi - lo > max(1, lo // 50):
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if runs(mid) else (lo, mid)
            plan_n = plan_frames(fam, raw, comp, left + int(sum(p.numel() for p in llm.parameters()) * 2))["frames"]
            print(f"{fam:16} {comp:16} {lo:>9} {plan_n:>8}")
        del llm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--memory-gib", type=float, default=80.0, help="device memory the planner fills (no GPU)")
    ap.add_argument("--frames", type=int, default=64, help="frames of the CPU prefill run")
    ap.add_argument("--llm-frames", type=int, default=64, help="frames of the small-LLM prefill run")
    ap.add_argument("--skip-prefill", action="store_true")
    a = ap.parse_args()
    memory = int(a.memory_gib * GiB)
    try:
        import torch

        if torch.cuda.is_available():
            memory = torch.cuda.mem_get_info()[0]
    except ImportError:
        pass
    planner_table(memory)
    if not a.skip_prefill:
        prefill_table(a.frames)
        llm_prefill_table(a.llm_frames)
    gpu_table()


if __name__ == "__main__":
    main()
