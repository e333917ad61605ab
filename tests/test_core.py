"""The shared core: registry, typed results, errors, lazy CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from longvid._registry import Registry
from longvid.errors import MissingDependencyError, require
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


def test_require_names_the_extra():
    with pytest.raises(MissingDependencyError, match=r"pip install 'longvid\[fancy\]'"):
        require("no_such_module_longvid_xyz", extra="fancy")


def test_frame_batch_validates_shapes():
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    ts = np.array([0.0, 1.0])
    FrameBatch(frames, ts, ts, np.arange(2))
    with pytest.raises(AssertionError):
        FrameBatch(frames, ts[:1], ts, np.arange(2))


def test_features_and_tokens_validate_and_count():
    f = FrameFeatures(torch.zeros(3, 4, 8), (2, 2), torch.zeros(3, dtype=torch.float64), torch.arange(3))
    assert len(f) == 3
    with pytest.raises(AssertionError):
        FrameFeatures(torch.zeros(3, 5, 8), (2, 2), torch.zeros(3), torch.arange(3))
    vt = VisualTokens(
        torch.zeros(5, 8),
        torch.tensor([0, 0, 1, 2, 2]),
        torch.tensor([0.0, 0.0, 1.0, 2.0, 2.0], dtype=torch.float64),
        torch.tensor([0, 1, -1, 2, 3]),
    )
    assert vt.tokens_per_frame() == {0: 2, 1: 1, 2: 2}


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
