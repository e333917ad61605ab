"""The packaged LLM options: registered by name, parts checked by size and sha256, clear errors."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from longvid.errors import MissingDependencyError, ModelLoadError
from longvid.offline.config import QueryConfig
from longvid.offline.llm import LLMS, LLMConfig


def test_the_15b_option_is_registered_and_pinned():
    src = LLMS.create("qwen2.5-coder-1.5b")
    assert len(src.packages) == len(src.part_files) == 22
    assert src.part_files[0] == "part01.bin" and src.part_files[-1] == "part22.bin"
    assert src.size_bytes == 1_117_320_768 and len(src.sha256) == 64
    assert QueryConfig(llm="qwen2.5-coder-1.5b").llm == LLMConfig(name="qwen2.5-coder-1.5b")


def test_missing_parts_name_the_extra_and_the_pip_line():
    src = dataclasses.replace(LLMS.create("qwen2.5-coder-1.5b"),
                              packages=tuple(f"longvid_no_such_part{i}" for i in range(22)))
    with pytest.raises(MissingDependencyError, match=r"pip install 'longvid\[offline-llm-1-5b\]'"):
        src.part_paths()


def _fake(tmp_path, chunks, sha=None):
    pkgs = tuple(f"fake_part{i}" for i in range(len(chunks)))
    for pkg, i, data in zip(pkgs, range(len(chunks)), chunks):
        (tmp_path / pkg / "data").mkdir(parents=True)
        (tmp_path / pkg / "data" / f"part{i + 1:02d}.bin").write_bytes(data)
    whole = b"".join(chunks)
    src = dataclasses.replace(LLMS.create("qwen2.5-coder-1.5b"), packages=pkgs,
                              part_files=tuple(f"part{i + 1:02d}.bin" for i in range(len(chunks))),
                              size_bytes=len(whole), sha256=sha or hashlib.sha256(whole).hexdigest())
    return src, whole


def test_parts_dir_assembles_in_order_and_verifies_sha256(tmp_path):
    src, whole = _fake(tmp_path / "parts", [b"GGUF" + b"a" * 10, b"b" * 7, b"c" * 3])
    out = src.assemble(tmp_path, parts_dir=tmp_path / "parts")
    assert out.read_bytes() == whole


def test_a_wrong_sha256_is_a_load_error_and_leaves_no_file(tmp_path):
    src, _ = _fake(tmp_path / "parts", [b"x" * 5, b"y" * 5], sha="0" * 64)
    with pytest.raises(ModelLoadError, match="sha256"):
        src.assemble(tmp_path, parts_dir=tmp_path / "parts")
    assert not (tmp_path / src.filename).exists()
