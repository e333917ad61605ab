"""The real lmms-eval runs longvid's ``longvid`` model on local tasks over generated videos.

lmms-eval lives in its own environment (``scripts/setup_lmms.sh`` builds ``.venv-lmms``: it pins
``av<16`` and declares a torch of its own), so these tests run it as its users do, as a
``python -m lmms_eval`` process of that interpreter, on the longvid source under test. Nothing is
installed at run time: without such an interpreter the tests skip.

- The offline engine on open and multiple-choice questions, through the chat and simple paths:
  the logged answers and the scores.
- A tiny video-LLM (LongVA layout, random weights) through lmms-eval's generation,
  ``multiple_choice`` and ``loglikelihood`` tasks: every logged answer and loss equals what the
  same engine gives in this process.
"""

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from longvid.synth.testvideo import make_video

def _lmms_eval(py, env, task_dir, task, out, model_args, *extra):
    cmd = [py, "-m", "lmms_eval", "--model", "longvid", "--model_args", model_args, "--tasks", task,
           "--include_path", str(task_dir), "--output_path", str(out), "--log_samples", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    # lmms-eval logs an evaluation error and still exits 0: a run without results is a failure
    results = list(out.rglob("*_results.json"))
    assert proc.returncode == 0 and results, proc.stderr[-4000:]
    (samples,) = out.rglob(f"*_samples_{task}.jsonl")
    rows = sorted((json.loads(line) for line in samples.read_text().splitlines()), key=lambda r: r["doc_id"])
    return json.loads(results[0].read_text()), rows


def _common(docs: Path) -> str:
    return textwrap.dedent(f"""\
        dataset_path: json
        dataset_kwargs:
          data_files:
            test: {docs}
        test_split: test
        doc_to_visual: !function utils.doc_to_visual
        """)


# ----------------------------------------------------------------------------- the offline engine
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
    (d / "longvid_local.yaml").write_text("task: longvid_local\n" + _common(d / "docs.jsonl") + textwrap.dedent("""\
        output_type: generate_until
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


@pytest.mark.slow
@pytest.mark.parametrize("path", ["chat", "simple"])
def test_real_lmms_eval_scores_the_offline_engine(lmms_python, lmms_env, task_dir, tmp_path, path):
    from longvid.offline.cache import cache_root
    from longvid.offline.choices import NONE_SUPPORTED

    model_args = f"engine=offline,max_new_tokens=16,cache_dir={task_dir / 'cache'},models_dir={cache_root()}"
    res, rows = _lmms_eval(lmms_python, lmms_env, task_dir, "longvid_local", tmp_path / "out", model_args,
                           *(["--force_simple"] if path == "simple" else []))
    cls = "LongvidChatLMM (chat)" if path == "chat" else "LongvidLMM (simple)"
    assert f"longvid.eval.lmms_adapter.{cls}" in json.dumps(res.get("config", {}))
    resps = [r["filtered_resps"][0] if isinstance(r["filtered_resps"], list) else r["filtered_resps"] for r in rows]
    assert "4172" in resps[0]  # open question, answered from the on-screen text
    assert resps[1:] == ["B", "C", NONE_SUPPORTED]  # letters only; no guessed letter when nothing fits
    assert [r["accuracy"] for r in rows] == [1.0, 1.0, 1.0, 0.0]
    assert res["results"]["longvid_local"]["accuracy,none"] == pytest.approx(0.75)


# ----------------------------------------------------------------------------- a tiny video-LLM
VLM_UTILS = '''
def doc_to_visual(doc):
    return [doc["video"]]

def gen_results(doc, results):
    return {"answered": float(bool(results[0].strip()))}

def ll_results(doc, results):
    # lmms-eval 0.7.3 hands a task's own process_results the list of per-request results; its
    # built-in loglikelihood scoring unpacks that list as one pair and fails, so the task scores
    (loss, greedy), = results
    return {"perplexity": -loss, "acc": float(greedy)}
'''

VLM_DOCS = [
    {"question": "What code is shown?", "choices": ["4172", "9981", "blue"], "answer": 0},
    {"question": "Which colour is the background?", "choices": ["red", "green"], "answer": 1},
]


@pytest.fixture(scope="module")
def vlm_task(tmp_path_factory):
    """A tiny LongVA folder (its tower's config inside, as a downloaded model keeps it) and three
    local tasks over one generated video: generate_until, multiple_choice, loglikelihood."""
    from longvid.models.testing import CLIP_NAME, make_longva

    d = tmp_path_factory.mktemp("lmms_vlm")
    ck = make_longva(d / "model")
    tower = ck.folder / CLIP_NAME.split("/")[-1]
    tower.mkdir()
    shutil.copy(Path(ck.vision_towers[CLIP_NAME]) / "config.json", tower / "config.json")
    video = make_video(d / "code.mp4", duration_s=4.0, fps=5, size=(320, 180),
                       scenes=[(0.0, (240, 240, 240), "CODE 4172"), (2.0, (200, 250, 200), "GREEN")])
    docs = d / "docs.jsonl"
    docs.write_text("".join(json.dumps({**x, "video": str(video)}) + "\n" for x in VLM_DOCS))
    (d / "utils.py").write_text(VLM_UTILS)
    common = _common(docs) + "doc_to_text: question\n"
    (d / "vlm_gen.yaml").write_text("task: vlm_gen\n" + common + textwrap.dedent("""\
        output_type: generate_until
        doc_to_target: answer
        generation_kwargs:
          max_new_tokens: 6
          until: ["\\n\\n"]
          do_sample: false
        process_results: !function utils.gen_results
        metric_list:
          - metric: answered
            aggregation: mean
            higher_is_better: true
        """))
    (d / "vlm_mc.yaml").write_text("task: vlm_mc\n" + common + textwrap.dedent("""\
        output_type: multiple_choice
        doc_to_choice: choices
        doc_to_target: answer
        metric_list:
          - metric: acc
            aggregation: mean
            higher_is_better: true
        """))
    (d / "vlm_ll.yaml").write_text("task: vlm_ll\n" + common + textwrap.dedent("""\
        output_type: loglikelihood
        doc_to_target: "{{choices[answer]}}"
        process_results: !function utils.ll_results
        metric_list:
          - metric: perplexity
            aggregation: mean
            higher_is_better: true
          - metric: acc
            aggregation: mean
            higher_is_better: true
        """))
    return d, ck.folder, video


MODEL_ARGS = "engine=longva,model={folder},num_frames=4"


@pytest.fixture(scope="module")
def vlm_engine(vlm_task):
    from longvid.engines import create_engine

    _, folder, _ = vlm_task
    return create_engine("longva", model=str(folder), num_frames=4)


@pytest.mark.slow
@pytest.mark.parametrize("path", ["chat", "simple"])
def test_real_lmms_eval_generates_with_a_video_llm(lmms_python, lmms_env, vlm_task, vlm_engine, tmp_path, path):
    d, folder, video = vlm_task
    res, rows = _lmms_eval(lmms_python, lmms_env, d, "vlm_gen", tmp_path / "out", MODEL_ARGS.format(folder=folder),
                           *(["--force_simple"] if path == "simple" else []))
    got = [r["filtered_resps"][0] if isinstance(r["filtered_resps"], list) else r["filtered_resps"] for r in rows]
    # the task's max_new_tokens and greedy decoding reach the engine: the same answers as here
    want = [vlm_engine.ask(str(video), doc["question"], max_new_tokens=6, do_sample=False).text.split("\n\n")[0]
            for doc in VLM_DOCS]
    assert got == [w.strip() for w in want]
    assert res["results"]["vlm_gen"]["answered,none"] == pytest.approx(sum(bool(w.strip()) for w in want) / 2)


def _loss(engine, video, context, continuation) -> float:
    logprob, _ = engine.loglikelihood(str(video), context, continuation, per_token=True)
    return -logprob


@pytest.mark.slow
def test_real_lmms_eval_multiple_choice_scores_by_likelihood(lmms_python, lmms_env, vlm_task, vlm_engine, tmp_path):
    d, folder, video = vlm_task
    res, rows = _lmms_eval(lmms_python, lmms_env, d, "vlm_mc", tmp_path / "out", MODEL_ARGS.format(folder=folder),
                           "--force_simple")  # lmms-eval sends loglikelihood requests on its simple path only
    accs = []
    for doc, row in zip(VLM_DOCS, rows):
        # lmms-eval puts its target delimiter (a space) before each choice
        want = [_loss(vlm_engine, video, doc["question"], " " + c) for c in doc["choices"]]
        got = [float(loss) for loss, _greedy in row["filtered_resps"]]
        assert got == pytest.approx(want, rel=1e-4, abs=1e-4)
        pick = min(range(len(want)), key=want.__getitem__)  # lmms-eval: the lowest loss is the choice
        accs.append(float(pick == doc["answer"]))
        assert row["acc"] == accs[-1]
    assert res["results"]["vlm_mc"]["acc,none"] == pytest.approx(sum(accs) / len(accs))


@pytest.mark.slow
def test_real_lmms_eval_loglikelihood_task(lmms_python, lmms_env, vlm_task, vlm_engine, tmp_path):
    d, folder, video = vlm_task
    res, rows = _lmms_eval(lmms_python, lmms_env, d, "vlm_ll", tmp_path / "out",
                           MODEL_ARGS.format(folder=folder) + ",loglikelihood=sum", "--force_simple")
    want = []
    for doc, row in zip(VLM_DOCS, rows):
        target = doc["choices"][doc["answer"]]
        logprob, greedy = vlm_engine.loglikelihood(str(video), doc["question"], target)
        assert row["perplexity"] == pytest.approx(logprob, rel=1e-4, abs=1e-4)  # the summed log-probability
        assert row["acc"] == float(greedy)
        want.append(logprob)
    assert res["results"]["vlm_ll"]["perplexity,none"] == pytest.approx(sum(want) / len(want), rel=1e-4)
