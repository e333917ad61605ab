"""Benchmark of the offline engine on a generated long video with speech and on-screen text.

Measures, each in a fresh process so that peak memory and cold starts are real:
  * index: time per stage (visual = decode + features + OCR, speech, subtitles, timeline + embed)
    and peak RSS, for the full video and for a quarter of it (memory must be flat in length);
  * first question (cold process: imports, index lookup, LLM load, retrieval, answer);
  * follow-up question in a new process (the index and converted LLM weights exist);
  * warm follow-up questions in one process.
Reference in the same run: decoding the 1 fps frames alone, so the visual stage reads as a ratio
to pure decoding. Targets (2-core CPU): index 1 h <= 60 s, follow-up <= 4 s cold and <= 1 s warm,
peak RSS <= 1.5 GB and flat in length.

    python bench/ask.py                    # 1 hour (the target size)
    python bench/ask.py --duration 600     # quicker
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = (
    "What is the secret password?",
    "Where will the conference be held?",
    "What is the vault code?",
)


def make_video(path: Path, duration_s: float) -> None:
    from longvid.synth.needles import Needle
    from longvid.synth.talk import TimedNeedle, haystack_parts, write_video

    needles = [
        TimedNeedle(duration_s * 0.1, Needle("text", "pineapple", text="Password: PINEAPPLE")),
        TimedNeedle(duration_s * 0.1, Needle("speech", "pineapple", text="The secret password is pineapple.")),
        TimedNeedle(duration_s * 0.5, Needle("speech", "lisbon", text="The conference will be held in Lisbon.")),
        TimedNeedle(duration_s * 0.9, Needle("text", "5821", text="Vault code 5821")),
    ]
    slides, clips, speech = haystack_parts(duration_s, needles)
    write_video(path, duration_s=duration_s, slides=slides, clips=clips, speech=speech, fps=1.0, size=(640, 360))


def _llm_note(timings: dict) -> str:
    """Whether answering loaded the LLM (it loads only when extraction is unsure)."""
    if "llm_load_s" in timings:
        return f"llm loaded in {timings['llm_load_s']:.1f} s"
    return "answered by extraction, llm not loaded"


def child(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line last. Adds wall time and peak RSS."""
    wrapper = (
        "import json, resource, sys, time\n"
        "t0 = time.perf_counter()\n" + code +
        "\nout['wall_s'] = time.perf_counter() - t0\n"
        "out['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps(out))\n"
    )
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-3000:])
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = time.perf_counter() - t0
    return out


INDEX = """
from longvid.offline.engine import OfflineEngine
idx = OfflineEngine(cache_dir=sys.argv[2]).index(sys.argv[1])
out = {'timings': idx.manifest['timings_s'], 'segments': idx.manifest['num_segments'],
       'kept': idx.manifest['kept_frames'], 'frames': idx.manifest['frames'], 'ocr_reads': idx.manifest['ocr_reads']}
"""
ASK_COLD = """
from longvid.offline.engine import OfflineEngine
a = OfflineEngine(cache_dir=sys.argv[2]).ask(sys.argv[1], sys.argv[3])
out = {'answer': a.text, 'grounded': a.grounded, 'moments': [m.label() for m in a.moments], 'timings': a.timings_s}
"""
ASK_WARM = """
from longvid.offline.engine import OfflineEngine
e = OfflineEngine(cache_dir=sys.argv[2])
e.ask(sys.argv[1], sys.argv[3])
lat = []
for q in sys.argv[4:]:
    t = time.perf_counter(); a = e.ask(sys.argv[1], q); lat.append(time.perf_counter() - t)
out = {'warm_s': lat}
"""
DECODE = """
from longvid.io import SamplingConfig, sample_frames
n = sum(len(b) for b in sample_frames(sys.argv[1], SamplingConfig(fps=1.0, resize='none', batch_size=16)))
out = {'frames': n}
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=3600.0, help="video length in seconds (default 3600)")
    ap.add_argument("--workdir", help="keep videos and caches here (default: a temp folder)")
    ap.add_argument("--models-cache", default=None, help="where converted LLM weights are (default: the user cache)")
    args = ap.parse_args()

    from longvid.offline.cache import cache_root
    from longvid.offline.llm import QWEN_05B, LLMConfig, is_converted, load_llm

    work = Path(args.workdir or tempfile.mkdtemp(prefix="longvid-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "cache"
    # converted LLM weights are a one-time cost (reported apart); share them with this run's cache
    models = cache_root(args.models_cache)
    if not is_converted(QWEN_05B, LLMConfig().dtype, models):
        t0 = time.perf_counter()
        load_llm(LLMConfig(), models)
        print(f"one-time LLM conversion: {time.perf_counter() - t0:.1f} s")
    (cache / "models").mkdir(parents=True, exist_ok=True)
    for d in (models / "models").iterdir():
        link = cache / "models" / d.name
        if not link.exists():
            link.symlink_to(d)

    rows: list[tuple[str, str]] = []
    results = {}
    for label, dur in (("quarter", args.duration / 4), ("full", args.duration)):
        video = work / f"talk_{int(dur)}s.mp4"
        if not video.exists():
            t0 = time.perf_counter()
            make_video(video, dur)
            print(f"generated {video.name} ({dur / 60:.1f} min) in {time.perf_counter() - t0:.1f} s", flush=True)
        dec = child(DECODE, str(video))
        idx = child(INDEX, str(video), str(cache))
        results[label] = {"video": str(video), "decode": dec, "index": idx}
        print(f"{label}: indexed {dur / 60:.1f} min in {idx['wall_s']:.1f} s, peak {idx['peak_rss_mb']:.0f} MB", flush=True)
    full = results["full"]
    video = full["video"]
    first = child(ASK_COLD, video, str(cache), QUESTIONS[0])
    follow = child(ASK_COLD, video, str(cache), QUESTIONS[1])
    warm = child(ASK_WARM, video, str(cache), *QUESTIONS)

    t = full["index"]["timings"]
    minutes = args.duration / 60
    rows += [
        ("video", f"{minutes:.1f} min, 640x360, 1 fps, speech every 20 s + needles, slides + clips"),
        ("frames sampled / kept by temporal reduction / OCR reads",
         f"{full['index']['frames']} / {full['index']['kept']} / {full['index']['ocr_reads']}"),
        ("reference: decode 1 fps frames only", f"{full['decode']['wall_s']:.1f} s"),
        ("index: visual (decode+features+OCR)", f"{t['visual_s']:.1f} s ({t['visual_s'] / full['decode']['wall_s']:.1f}x decode)"),
        ("index: speech (VAD + Whisper)", f"{t['speech_s']:.1f} s"),
        ("index: subtitles", f"{t['subtitles_s']:.2f} s"),
        ("index: timeline + embeddings", f"{t['timeline_embed_s']:.1f} s"),
        ("index: total (process wall incl. model loads)", (
            f"{full['index']['process_wall_s']:.1f} s = {full['index']['process_wall_s'] / args.duration:.3f}x real time"
            f" -> 1 h would take {full['index']['process_wall_s'] / args.duration * 3600:.0f} s (target <= 60)")),
        ("peak RSS index: quarter / full", (
            f"{results['quarter']['index']['peak_rss_mb']:.0f} / {full['index']['peak_rss_mb']:.0f} MB "
            f"(ratio {full['index']['peak_rss_mb'] / results['quarter']['index']['peak_rss_mb']:.2f})")),
        ("first question, cold process", (
            f"{first['process_wall_s']:.1f} s ({_llm_note(first['timings'])}), "
            f"peak {first['peak_rss_mb']:.0f} MB")),
        ("follow-up, new process (target <= 4 s)", f"{follow['process_wall_s']:.1f} s, peak {follow['peak_rss_mb']:.0f} MB"),
        ("follow-up, warm process (target <= 1 s)", ", ".join(f"{x:.2f} s" for x in warm["warm_s"])),
    ]
    width = max(len(k) for k, _ in rows)
    print()
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print("\nanswers:", json.dumps({"first": first["answer"], "follow": follow["answer"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
