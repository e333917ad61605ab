"""Engine options: one typed KEY=VALUE parser behind --engine-option and lmms-eval's --model_args."""

import pytest

from longvid.cli import main
from longvid.commands.options import EngineOptionError, parse_option, parse_options, parse_value
from longvid.eval.lmms_adapter import parse_model_args


def test_values_are_typed():
    assert [parse_value(v) for v in ("16", "-2", "0.5", "1e-3", "true", "False", "none", "NULL", "cpu", "")] == [
        16, -2, 0.5, 1e-3, True, False, None, None, "cpu", ""
    ]
    assert type(parse_value("16")) is int and type(parse_value("16.0")) is float
    assert parse_option(" device = cuda:0 ") == ("device", "cuda:0")
    assert parse_option("prompt=a=b") == ("prompt", "a=b")  # the first "=" splits


def test_bad_entries_and_contradictions_are_errors():
    for bad in ("engine", "=3", " =x"):
        with pytest.raises(EngineOptionError, match="KEY=VALUE"):
            parse_options([bad])
    with pytest.raises(EngineOptionError, match="given twice"):
        parse_options(["fps=1", "fps=2"])
    assert parse_options(["fps=1", "fps=1", ""]) == {"fps": 1}  # the same value twice is no contradiction


def test_command_line_and_lmms_eval_parse_alike():
    entries = ["engine=offline", "max_new_tokens=16", "flag=true", "t=0.5", "x=None"]
    assert parse_options(entries) == parse_model_args(",".join(entries)) == {
        "engine": "offline", "max_new_tokens": 16, "flag": True, "t": 0.5, "x": None,
    }


def test_a_bad_engine_option_is_a_clear_command_error(tmp_path, capsys):
    rc = main(["eval", "mlvu", "--root", str(tmp_path), "--engine-option", "fps"])
    assert rc == 1 and "'fps' is not KEY=VALUE" in capsys.readouterr().err
