"""The shared core: registry, typed results, errors, lazy CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from longvid.errors import InvalidFeaturesError, MissingDependencyError, require
from longvid.registry import Registry
from longvid.types import FrameBatch, FrameFeatures, Moment, VisualTokens, format_timestamp


def test_registry_register_create_list():
    reg: Registry = Registry("widget")

    @reg.register("a")
    def make_a(x=1):
        return ("a", x)

    assert reg.create("a", x=3) == ("a", 3)
    assert reg.list() == ["a"]
    assert "a" in reg and "b" not in reg
    with pytest.raises(KeyError, match="unknown widget 'b'; known: a"):
        reg.get("b")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(lambda: None)


def test_registry_imports_builtins_on_first_use(tmp_path, monkeypatch):
    """A built-in is listed before its module is imported, and imported by its first lookup."""
    mod = tmp_path / "longvid_test_builtin_widget.py"
    mod.write_text("from longvid_test_reg import REG\n@REG.register('late')\ndef late(x=0):\n    return ('late', x)\n")
    (tmp_path / "longvid_test_reg.py").write_text(
        "from longvid.registry import Registry\n"
        "REG = Registry('widget', builtins={'late': 'longvid_test_builtin_widget'})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import longvid_test_reg

    assert longvid_test_reg.REG.list() == ["late"]
    assert "longvid_test_builtin_widget" not in sys.modules
    assert longvid_test_reg.REG.create("late", x=2) == ("late", 2)
    assert "longvid_test_builtin_widget" in sys.modules


def test_registry_entry_point_groups_are_plural_names(monkeypatch):
    import longvid.registry as registry

    seen = []

    class EP:
        name, value = "plug", "pkg:make"

        def load(self):
            return lambda: "plugged"

    def fake_entry_points(*, group):
        seen.append(group)
        return [EP()] if group == "longvid.ocr_engines" else []

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    reg = Registry("ocr", plural="ocr_engines")
    assert reg.group == "longvid.ocr_engines"
    assert reg.create("plug") == "plugged" and reg.list() == ["plug"]
    assert seen == ["longvid.ocr_engines"]
    assert Registry("compressor").group == "longvid.compressors"


REGISTRIES = [  # (module, registry, register_x, create_x, list_x, entry-point group)
    ("longvid.io.decoders", "DECODERS", "register_decoder", "create_decoder", "list_decoders", "longvid.decoders"),
    ("longvid.encoders", "ENCODERS", "register_encoder", "create_encoder", "list_encoders", "longvid.encoders"),
    ("longvid.compress", "COMPRESSORS", "register_compressor", "create_compressor", "list_compressors",
     "longvid.compressors"),
    ("longvid.engines", "ENGINES", "register_engine", "create_engine", "list_engines", "longvid.engines"),
    ("longvid.offline.ocr", "OCR_ENGINES", "register_ocr_engine", "create_ocr_engine", "list_ocr_engines",
     "longvid.ocr_engines"),
    ("longvid.offline.speech", "SPEECH_ENGINES", "register_speech_engine", "create_speech_engine",
     "list_speech_engines", "longvid.speech_engines"),
    ("longvid.offline.embed", "TEXT_EMBEDDERS", "register_text_embedder", "create_text_embedder",
     "list_text_embedders", "longvid.text_embedders"),
    ("longvid.offline.llm", "LLMS", "register_llm", "create_llm", "list_llms", "longvid.llms"),
    ("longvid.eval.benchmarks.base", "BENCHMARKS", "register_benchmark", "create_benchmark", "list_benchmarks",
     "longvid.benchmarks"),
]


@pytest.mark.parametrize("module,reg,register,create,listing,group", REGISTRIES, ids=[r[1] for r in REGISTRIES])
def test_every_registry_publishes_the_trio(module, reg, register, create, listing, group):
    """Each kind of part has register_x / create_x / list_x, all bound to its one registry, and a
    plural entry-point group; every listed name can be looked up."""
    import importlib

    mod = importlib.import_module(module)
    registry = getattr(mod, reg)
    assert isinstance(registry, Registry) and registry.group == group
    for fn in (register, create, listing):
        assert getattr(mod, fn).__self__ is registry, fn
    names = getattr(mod, listing)()
    assert names, f"{reg} lists nothing"
    for name in names:
        assert name in registry


def test_model_families_registry():
    from longvid.models.family import FAMILIES
    from longvid.models.registry import create_family, list_families

    assert FAMILIES.group == "longvid.families"
    assert list_families() == ["llama_vid", "llava_onevision", "longva", "longvu", "qwen2_5_vl", "qwen2_vl", "qwen3_vl", "videoxl"]
    assert create_family("longvu").name == "longvu"


def test_require_names_the_extra():
    with pytest.raises(MissingDependencyError, match=r"pip install 'longvid\[fancy\]'"):
        require("no_such_module_longvid_xyz", extra="fancy")


def test_frame_batch_validates_shapes():
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    ts = np.array([0.0, 1.0])
    FrameBatch(frames, ts, ts, np.arange(2))
    with pytest.raises(InvalidFeaturesError, match=r"invalid FrameBatch: timestamps_s has shape \(1,\) for 2 frames"):
        FrameBatch(frames, ts[:1], ts, np.arange(2))
    with pytest.raises(InvalidFeaturesError, match="frames must be"):
        FrameBatch(frames[..., :1], ts, ts, np.arange(2))


def test_features_and_tokens_validate_and_count():
    f = FrameFeatures(torch.zeros(3, 4, 8), (2, 2), torch.zeros(3, dtype=torch.float64), torch.arange(3))
    assert len(f) == 3
    with pytest.raises(InvalidFeaturesError, match=r"5 tokens per frame on a \(2, 2\) grid"):
        FrameFeatures(torch.zeros(3, 5, 8), (2, 2), torch.zeros(3), torch.arange(3))
    vt = VisualTokens(
        torch.zeros(5, 8),
        torch.tensor([0, 0, 1, 2, 2]),
        torch.tensor([0.0, 0.0, 1.0, 2.0, 2.0], dtype=torch.float64),
        torch.tensor([0, 1, -1, 2, 3]),
    )
    assert vt.tokens_per_frame() == {0: 2, 1: 1, 2: 2}
    with pytest.raises(InvalidFeaturesError, match="cells has shape"):
        VisualTokens(torch.zeros(2, 8), torch.zeros(2, dtype=torch.long), torch.zeros(2), torch.zeros(3))


def test_shape_checks_survive_python_O():
    """Shape checks are raised errors, not asserts: ``python -O`` keeps them."""
    code = ("import torch; from longvid.types import FrameFeatures\n"
            "try:\n    FrameFeatures(torch.zeros(1, 5, 2), (2, 2), torch.zeros(1), torch.zeros(1))\n"
            "except ValueError as e:\n    print('raised', type(e).__name__)")
    out = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "raised InvalidFeaturesError"


@pytest.mark.parametrize(("s", "want"), [(0, "0:00"), (751.4, "12:31"), (3723, "1:02:03"), (-3, "0:00")])
def test_format_timestamp(s, want):
    assert format_timestamp(s) == want


def test_moment_label():
    assert Moment(751, 768).label() == "[12:31-12:48]"


def test_cli_help_is_light():
    """`longvid --help` lists every subcommand and imports no heavy module."""
    code = (
        "import sys; from longvid.cli import build_parser, COMMANDS; build_parser(['--help']);"
        "heavy = [m for m in ('torch', 'transformers', 'av', 'cv2') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cli_without_command_exits_2(capsys):
    from longvid.cli import main

    assert main([]) == 2
