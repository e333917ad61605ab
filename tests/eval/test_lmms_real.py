"""The real lmms-eval (when installed: the ``eval`` set-up) runs the ``longvid`` model on a local
task: a generated video, open and multiple-choice questions, through the chat and simple paths."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("lmms_eval")
pytest.importorskip("rapidocr_onnxruntime")
pytest.importorskip("faster_whisper")

from longvid.offline.cache import cache_root  # noqa: E402
from longvid.offline.choices import NONE_SUPPORTED  # noqa: E402
from longvid.synth.testvideo import make_video  # noqa: E402

UTILS = '''
import re

def doc_to_visual(doc):
    return [doc["video"]]

def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    if not doc["options"]:
        return doc["question"]
    opts = "\\n".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(doc["options"]))
    return f"{doc['question']}\\n{opts}\\nAnswer with the option's letter from the given choices directly."

def process_results(doc, results):
    pred = results[0]
    if doc["options"]:  # the usual letter extractor: the first capital A-E
        m = re.search(r"[ABCDE]", pred)
        return {"accuracy": float(bool(m) and m.group(0) == doc["answer"])}
    return {"accuracy": float(doc["answer"].lower() in pred.lower())}
'''


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("lmms_task")
    video = make_video(d / "lesson.mp4", duration_s=8.0, fps=5, size=(640, 360), scenes=[
        (0.0, (240, 240, 240), "THE CODE IS 4172"), (4.0, (250, 250, 210), "ROOM BLUE SEVEN")])
    docs = [
        {"question": "What code is shown?", "options": [], "answer": "4172"},
        {"question": "Which code is shown on screen?", "options": ["1234", "4172", "9981", "5550"], "answer": "B"},
        {"question": "Which room is named?", "options": ["red five", "green two", "blue seven"], "answer": "C"},
        # nothing in the video backs either option: the answer must say so, not guess a letter
        {"question": "Which animal appears?", "options": ["a fox", "a jay"], "answer": "A"},
    ]
    (d / "docs.jsonl").write_text("".join(json.dumps({**x, "video": str(video)}) + "\n" for x in docs))
    (d / "utils.py").write_text(UTILS)
    (d / "longvid_local.yaml").write_text(textwrap.dedent(f"""\
        task: longvid_local
        dataset_path: json
        dataset_kwargs:
          data_files:
            test: {d / 'docs.jsonl'}
        test_split: test
        output_type: generate_until
        doc_to_visual: !function utils.doc_to_visual
        doc_to_text: !function utils.doc_to_text
        doc_to_target: answer
        generation_kwargs:
          max_new_tokens: 24
          until: ["\\n\\n"]
          temperature: 0
          do_sample: false
        process_results: !function utils.process_results
        metric_list:
          - metric: accuracy
            aggregation: mean
            higher_is_better: true
        """))
    return d


def _run(task_dir, out, *extra):
    model_args = f"engine=offline,max_new_tokens=16,cache_dir={task_dir / 'cache'},models_dir={cache_root()}"
    cmd = [sys.executable, "-m", "lmms_eval", "--model", "longvid", "--model_args", model_args,
           "--tasks", "longvid_local", "--include_path", str(task_dir),
           "--output_path", str(out), "--log_samples", *extra]
    env = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr[-3000:]
    (samples,) = out.rglob("*_samples_longvid_local.jsonl")
    (results,) = out.rglob("*_results.json")
    rows = sorted((json.loads(line) for line in samples.read_text().splitlines()), key=lambda r: r["doc_id"])
    res = json.loads(results.read_text())
    score = res["results"]["longvid_local"]["accuracy,none"]
    backend = json.dumps(res.get("config", {}))
    return backend, [r["filtered_resps"] for r in rows], [r["accuracy"] for r in rows], score


@pytest.mark.slow
@pytest.mark.parametrize("path", ["chat", "simple"])
def test_real_lmms_eval_scores_the_local_task(task_dir, tmp_path, path):
    backend, resps, scores, score = _run(task_dir, tmp_path / "out", *(["--force_simple"] if path == "simple" else []))
    resps = [r[0] if isinstance(r, list) else r for r in resps]
    cls = "LongvidChatLMM (chat)" if path == "chat" else "LongvidLMM (simple)"
    assert f"longvid.eval.lmms_adapter.{cls}" in backend
    assert "4172" in resps[0]  # open question, answered from the on-screen text
    assert resps[1:] == ["B", "C", NONE_SUPPORTED]  # letters only; no guessed letter when nothing fits
    assert scores == [1.0, 1.0, 1.0, 0.0] and score == pytest.approx(0.75)
