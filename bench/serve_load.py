"""Bounded load test of ``longvid serve`` on loopback: concurrent askers plus one indexing job.

The server runs as its own process (``python -m longvid.cli serve``) so that its memory is
measured alone. Steps:
  1. generate two talks (synthetic slides + speech): one to ask about, one to index under load;
  2. upload the first and wait for its index; ask one warm-up question (loads the LLM);
  3. start ``--askers`` threads, each asking ``--questions`` questions (streamed and not, in
     turn, through the official ``openai`` client), and upload the second talk at the same time;
  4. sample the server's RSS every ``--rss-every`` seconds throughout.
Reports latency percentiles (whole answer; first content chunk for streams), errors, the
indexing job's time under load, and RSS over time (memory must stay flat once the models are
loaded). Exit status 1 when any request failed.

    python bench/serve_load.py                          # 8 askers x 25 questions
    python bench/serve_load.py --askers 2 --questions 3 # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

QUESTIONS = ("What is the vault code?", "Who feeds the cats?", "Where does the tour start?")


def make_talk(path: Path, duration_s: float, *, variant: int) -> Path:
    from longvid.synth.needles import Needle
    from longvid.synth.speech import espeak_available
    from longvid.synth.talk import TimedNeedle, haystack_parts, write_video

    needles = [TimedNeedle(duration_s * 0.2, Needle("text", str(4711 + variant), text=f"The vault code is {4711 + variant}")),
               TimedNeedle(duration_s * 0.8, Needle("text", "harbour", text="The tour starts at the harbour"))]
    if espeak_available():
        needles.append(TimedNeedle(duration_s * 0.6, Needle("speech", "seven", text="The lighthouse keeper feeds seven cats.")))
    slides, clips, speech = haystack_parts(duration_s, needles,
                                           filler_slide_s=20.0, clip_s=5.0, speech_every_s=None,
                                           clip_names=("carphone_pristine.mp4",))
    return write_video(path, duration_s=duration_s, slides=slides, clips=clips, speech=speech, fps=1.0,
                       size=(480, 270), audio=espeak_available())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(xs: list[float]) -> dict:
    if not xs:
        return {}
    xs = sorted(xs)

    def q(p: float) -> float:
        return round(xs[min(len(xs) - 1, round(p * (len(xs) - 1)))], 3)

    return {"n": len(xs), "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": round(xs[-1], 3),
            "mean": round(statistics.fmean(xs), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--askers", type=int, default=8)
    ap.add_argument("--questions", type=int, default=25, help="questions per asker")
    ap.add_argument("--duration", type=float, default=60.0, help="length of the talk asked about (s)")
    ap.add_argument("--index-duration", type=float, default=180.0, help="length of the talk indexed under load (s)")
    ap.add_argument("--rss-every", type=float, default=2.0)
    ap.add_argument("--json", metavar="FILE", help="also write the results here")
    args = ap.parse_args()

    import httpx2
    import openai
    import psutil

    from longvid.offline.cache import cache_root

    work = Path(tempfile.mkdtemp(prefix="longvid-serve-load-"))
    asked = make_talk(work / "asked.mp4", args.duration, variant=0)
    other = make_talk(work / "indexed-under-load.mp4", args.index_duration, variant=1)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    log = open(work / "server.log", "w")  # noqa: SIM115 (open for the server's whole life, closed below)
    proc = subprocess.Popen([sys.executable, "-m", "longvid.cli", "-q", "serve", "--port", str(port),
                             "--cache", str(work / "cache"), "--models-dir", str(cache_root())],
                            env=env, stdout=subprocess.DEVNULL, stderr=log)
    rss: list[tuple[float, float]] = []
    stop = threading.Event()
    t_start = time.perf_counter()
    marks: dict[str, float] = {}

    def sample() -> None:
        p = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                rss.append((round(time.perf_counter() - t_start, 1), p.memory_info().rss / 2**20))
            except psutil.Error:
                return
            stop.wait(args.rss_every)

    threading.Thread(target=sample, daemon=True).start()
    try:
        http = httpx2.Client(base_url=url, timeout=600)
        for _ in range(600):
            try:
                if http.get("/v1/models").status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the server did not start; see " + str(work / "server.log"))
        marks["server_up_s"] = time.perf_counter() - t_start

        def upload(path: Path) -> str:
            with open(path, "rb") as f:
                r = http.post("/v1/videos", files={"file": (path.name, f, "video/mp4")})
            r.raise_for_status()
            return r.json()["id"]

        def wait(vid: str) -> dict:
            while True:
                rec = http.get(f"/v1/videos/{vid}").json()
                if rec["state"] in ("done", "failed"):
                    return rec
                time.sleep(0.5)

        t0 = time.perf_counter()
        vid = upload(asked)
        rec = wait(vid)
        assert rec["state"] == "done", rec
        marks["index_alone_s"] = time.perf_counter() - t0
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=900)
        video_part = {"type": "video_url", "video_url": {"url": f"longvid://{vid}"}}
        t0 = time.perf_counter()
        client.chat.completions.create(model="longvid-offline", messages=[
            {"role": "user", "content": [video_part, {"type": "text", "text": QUESTIONS[0]}]}])
        marks["warmup_question_s"] = time.perf_counter() - t0
        rss_before_load = rss[-1][1] if rss else None

        latencies: list[float] = []
        first_chunk: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()

        def asker(i: int) -> None:
            for j in range(args.questions):
                q = QUESTIONS[(i + j) % len(QUESTIONS)]
                msgs = [{"role": "user", "content": [video_part, {"type": "text", "text": q}]}]
                t = time.perf_counter()
                try:
                    if (i + j) % 2:
                        first = None
                        text = ""
                        for c in client.chat.completions.create(model="longvid-offline", messages=msgs, stream=True):
                            if c.choices and c.choices[0].delta.content:
                                first = first or time.perf_counter() - t
                                text += c.choices[0].delta.content
                        with lock:
                            first_chunk.append(first or float("nan"))
                    else:
                        text = client.chat.completions.create(model="longvid-offline", messages=msgs
                                                              ).choices[0].message.content
                    if not text:
                        raise RuntimeError("empty answer")
                    with lock:
                        latencies.append(time.perf_counter() - t)
                except Exception as exc:  # noqa: BLE001 (counted and reported, the run goes on)
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}"[:200])

        t_load = time.perf_counter()
        marks["load_from_s"] = t_load - t_start
        threads = [threading.Thread(target=asker, args=(i,)) for i in range(args.askers)]
        for t in threads:
            t.start()
        other_id = upload(other)
        t_idx = time.perf_counter()
        other_rec = wait(other_id)
        marks["index_under_load_s"] = time.perf_counter() - t_idx
        for t in threads:
            t.join()
        load_s = time.perf_counter() - t_load
    finally:
        stop.set()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

    total = args.askers * args.questions
    mem = [m for _, m in rss]
    during = [m for t, m in rss if t >= marks.get("load_from_s", 0.0)]
    out = {
        "askers": args.askers, "questions_each": args.questions, "requests": total,
        "ok": len(latencies), "errors": len(errors), "error_samples": errors[:5],
        "load_wall_s": round(load_s, 1), "answers_per_s": round(len(latencies) / load_s, 3),
        "latency_s": percentiles(latencies), "first_content_chunk_s": percentiles(first_chunk),
        "index_job_under_load": {"state": other_rec["state"], "video_s": args.index_duration,
                                 "wall_s": round(marks["index_under_load_s"], 1)},
        "index_alone": {"video_s": args.duration, "wall_s": round(marks["index_alone_s"], 1)},
        "warmup_question_s": round(marks["warmup_question_s"], 2),
        "rss_mb": {"after_warmup": round(rss_before_load or 0), "max": round(max(mem)),
                   "load_phase": {"start": round(during[0]), "min": round(min(during)), "max": round(max(during)),
                                  "end": round(during[-1])} if during else None,
                   "samples": " ".join(f"{t:.0f}s:{m:.0f}" for t, m in rss[:: max(1, len(rss) // 24)])},
        "cpus": os.cpu_count(),
    }
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 1 if errors or other_rec["state"] != "done" else 0


if __name__ == "__main__":
    sys.exit(main())
