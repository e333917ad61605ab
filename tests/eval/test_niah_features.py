"""Feature-level V-NIAH on a tiny LongVA the test builds (random weights): haystack encoded once,
needle tokens inserted at int(depth*N), teacher-forced and generation scoring both run."""

import pytest
import torch

from longvid.eval.niah import FeatureEngineAdapter, NiahGrid, load_needles, run_niah, write_generated_needles
from longvid.eval.niah.adapters import CellTask, UnsupportedNeedleError
from longvid.eval.niah.llm_features import VideoLLMFeatures
from longvid.eval.niah.runner import build_question, placements_for

from longvid.models.testing import make_longva


@pytest.fixture(scope="module")
def longva_engine(tmp_path_factory):
    from longvid.models.engine import load_engine

    ckpt = make_longva(tmp_path_factory.mktemp("longva"))
    return load_engine(str(ckpt.folder), vision_towers=ckpt.vision_towers)


def test_feature_niah_encodes_haystack_once_and_inserts_needles(tmp_path, haystack_60s, longva_engine):
    haystack, _ = haystack_60s
    write_generated_needles(tmp_path / "n", kinds=("image", "text"), seed=2, image_size=(64, 36))
    sets = load_needles(tmp_path / "n")
    feats = VideoLLMFeatures(longva_engine, max_new_tokens=4)
    adapter = FeatureEngineAdapter(feats, scoring="teacher_forced")
    grid = NiahGrid(frames=(4, 8), depths=(0.0, 0.5, 1.0))
    summary = run_niah(adapter, haystack, sets, grid, tmp_path / "out", heatmap=False)
    assert summary["num_results"] == 12 and summary["num_errors"] == 0
    # 8 haystack frames once + 1 image needle once + 1 text-burned frame per text cell (6)
    assert feats.encode_calls == 8 + 1 + 6
    image_set = next(s for s in sets if s.needles[0].kind == "image")
    task = CellTask(8, 0.5, image_set, placements_for(image_set, 8, 0.5), build_question(image_set))
    cell = adapter.cell_features(task)
    assert cell.shape[0] == 9
    needle = adapter.needle_features[image_set.needles[0].image][0]
    assert torch.equal(cell[4], needle)  # int(0.5 * 8) = 4
    assert torch.equal(cell[:4], adapter.features[:4]) and torch.equal(cell[5:], adapter.features[4:8])
    text = feats.generate_from_features(cell, task.question)
    assert isinstance(text, str)


def test_feature_adapter_refuses_spoken_needles(tmp_path, haystack_60s, longva_engine):
    write_generated_needles(tmp_path / "n", kinds=("speech",))
    adapter = FeatureEngineAdapter(VideoLLMFeatures(longva_engine))
    with pytest.raises(UnsupportedNeedleError, match="spoken"):
        adapter.prepare(
            haystack_60s[0],
            NiahGrid(frames=(4,), depths=(0.0,)),
            load_needles(tmp_path / "n"),
            tmp_path / "w",
        )


def test_lmms_adapter_loglikelihood_on_a_real_video_llm(haystack_60s, longva_engine):
    import math
    from types import SimpleNamespace

    from longvid.eval.lmms_adapter import LongvidLMM

    longva_engine.config = type(longva_engine.config)(fps=None, num_frames=4)
    lm = LongvidLMM(engine=longva_engine)
    lm.task_dict = {"t": {"test": [{"video": str(haystack_60s[0]), "answer": "blue"}]}}
    req = SimpleNamespace(
        args=("What colour?", lambda d: d["answer"], lambda d: [d["video"]], 0, "t", "test")
    )
    ((loss, greedy),) = lm.loglikelihood([req])  # lmms-eval's convention: the loss, lower is likelier
    logprob, _ = longva_engine.loglikelihood(haystack_60s[0], "What colour?", "blue", per_token=True)
    assert math.isfinite(loss) and loss > 0 and isinstance(greedy, bool)
    assert loss == pytest.approx(-logprob)


def test_only_families_with_per_frame_tokens_get_the_feature_adapter(tmp_path_factory, longva_engine):
    """LongVU's frame reduction looks across frames, so needles inserted after encoding are not
    what it would see: ``auto`` gives it the video adapter; LongVA gets the feature adapter."""
    from longvid.eval.niah.adapters import feature_engine_for
    from longvid.models.engine import load_engine
    from longvid.models.testing import make_longvu

    ckpt = make_longvu(tmp_path_factory.mktemp("longvu"))
    longvu = load_engine(str(ckpt.folder), vision_towers=ckpt.vision_towers)
    assert feature_engine_for(longvu) is None
    assert isinstance(feature_engine_for(longva_engine), VideoLLMFeatures)
