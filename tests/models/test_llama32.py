"""LongVU_Llama3_2 checkpoints: the released layout (``cambrian_llama``, tied embeddings, ``llama3``
rope scaling, the Llama-3.2 chat template) loads and generates, and its prompt is reproducible."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

from longvid.models.generate import GenerationConfig  # noqa: E402

GREEDY = GenerationConfig(max_new_tokens=5, do_sample=False)


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    from longvid.models.testing import make_longvu

    return make_longvu(tmp_path_factory.mktemp("longvu_llama"), llm="llama3_2")


@pytest.fixture(scope="module")
def llama_engine(llama_dir):
    from longvid.models.engine import load_engine

    return load_engine(str(llama_dir.folder), vision_towers=llama_dir.vision_towers, generation=GREEDY)


def test_tiny_layout_keeps_the_released_keys(llama_dir):
    cfg = json.loads((llama_dir.folder / "config.json").read_text())
    assert cfg["model_type"] == "cambrian_llama"
    assert cfg["rope_scaling"]["rope_type"] == "llama3" and cfg["rope_scaling"]["factor"] == 32.0
    assert cfg["tie_word_embeddings"] is True


def test_plain_autotokenizer_fails_on_this_layout(llama_dir):
    """The failure the loader must avoid: transformers reading the unknown config by itself."""
    import transformers

    with pytest.raises(AttributeError, match="max_position_embeddings"):
        transformers.AutoTokenizer.from_pretrained(str(llama_dir.folder))


def test_llama32_checkpoint_loads_and_generates(llama_engine, short_video):
    m = llama_engine.model
    assert type(m.llm).__name__ == "LlamaForCausalLM"
    rs = m.llm.config.rope_parameters if hasattr(m.llm.config, "rope_parameters") else m.llm.config.rope_scaling
    assert rs["rope_type"] == "llama3"
    assert m.llm.lm_head.weight.data_ptr() == m.llm.model.embed_tokens.weight.data_ptr()  # tied
    assert m.tokenizer.bos_token == "<|begin_of_text|>"
    r = llama_engine.run(str(short_video), "what color is the square?")
    assert r.new_tokens >= 1 and 0 < len(r.visual_tokens) <= r.budget
    assert r.answer.engine == "longvu"


@pytest.mark.parametrize("llm", ["qwen2", "llama3_2"])
def test_tokenizer_is_the_class_the_folder_declares(tmp_path, llm):
    """Not the class transformers maps the LLM's model type to: the words round-trip with spaces."""
    from longvid.models.llm import load_tokenizer
    from longvid.models.testing import make_tokenizer

    saved = make_tokenizer(tmp_path, llm)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "cambrian_llama",
                                                      "rope_scaling": {"rope_type": "llama3", "factor": 32.0}}))
    tok = load_tokenizer(tmp_path)
    assert type(tok) is type(saved)
    ids = tok("what is in the video", add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == "what is in the video"


def released_llama32_prompt(question: str, date: str) -> str:
    """What the released environment's Llama-3.2 template rendered for a video question."""
    return ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            f"Cutting Knowledge Date: December 2023\nToday Date: {date}\n\n"
            "You are a helpful assistant.<|eot_id|>"
            f"<|start_header_id|>user<|end_header_id|>\n\n<image>\n{question}<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_llama32_prompt_is_reproducible(llama_engine):
    from longvid.models.prompt import RELEASED_DATE_STRING, build_prompt

    tok = llama_engine.model.tokenizer
    q = "what color is the square?"
    assert RELEASED_DATE_STRING == "26 Jul 2024"
    parts = build_prompt(tok, q)
    assert parts.text == released_llama32_prompt(q, "26 Jul 2024")
    assert build_prompt(tok, q, date_string="01 Jan 2025").text == released_llama32_prompt(q, "01 Jan 2025")
    # None: the template's own choice (today's date where the renderer offers strftime_now)
    import datetime

    today = build_prompt(tok, q, date_string=None).text
    assert "Today Date: " in today and ("26 Jul 2024" in today or datetime.date.today().strftime("%Y") in today)


def test_chatml_prompt_ignores_the_date(longvu_dir):
    from longvid.models.llm import load_tokenizer
    from longvid.models.prompt import build_prompt

    tok = load_tokenizer(longvu_dir.folder)
    a = build_prompt(tok, "what is it?").text
    assert a == build_prompt(tok, "what is it?", date_string=None).text
    assert "Date" not in a
