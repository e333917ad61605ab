"""V-NIAH pieces: the grid, needle sets, rendering, results, and a full run with a pixel-reading engine."""

import json

import numpy as np
import pytest

from longvid.errors import InvalidSamplingError, LongvidError, VideoTooShortError
from longvid.eval.niah import (
    NiahGrid,
    ResultStore,
    VideoEngineAdapter,
    build_question,
    insertion_index,
    load_needles,
    run_niah,
    score_cell,
    write_generated_needles,
)
from longvid.eval.niah.adapters import CellOutcome
from longvid.eval.niah.grid import needle_depths, parse_list
from longvid.eval.niah.needles import NeedleSetError
from longvid.eval.niah.results import CellResult, ResultsMismatchError
from longvid.eval.niah.runner import CellScore, placements_for


# ----------------------------------------------------------------------------- grid
def test_default_grid_is_longvas():
    g = NiahGrid()
    assert g.frames == tuple(range(200, 3001, 200)) and len(g.cells()) == 90
    assert g.depths == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0) and g.fps == 1.0


def test_insertion_index_is_int_depth_times_n():
    assert [insertion_index(d, 200) for d in (0, 0.2, 0.5, 1.0)] == [0, 40, 100, 200]
    assert insertion_index(0.3, 7) == 2  # int(), not round()
    assert needle_depths(0.5, 2) == [0.5, 0.75]
    assert needle_depths(1.0, 3) == [1.0, 1.0, 1.0]


def test_grid_rejects_bad_values_and_parses_lists():
    with pytest.raises(InvalidSamplingError):
        NiahGrid(depths=(1.5,))
    with pytest.raises(InvalidSamplingError):
        NiahGrid(frames=(0,))
    assert parse_list("200:1000:200") == (200, 400, 600, 800, 1000)
    assert parse_list("0:1:0.25", float) == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert parse_list("10, 30") == (10, 30)


# ----------------------------------------------------------------------------- needles
def test_longva_dataset_json_layout(tmp_path):
    from PIL import Image

    Image.new("RGB", (32, 32), (200, 0, 0)).save(tmp_path / "n0.png")
    (tmp_path / "dataset.json").write_text(
        json.dumps(
            [
                {"path": "n0.png", "prompt": "\nWhat colour is the square?", "answer": "Red"},
                {
                    "kind": "speech",
                    "text": "the password is walnut",
                    "prompt": "What password?",
                    "answer": "walnut",
                },
                {
                    "mode": "multihop",
                    "prompt": "What is the code?",
                    "answer": "5821",
                    "needles": [
                        {"kind": "text", "text": "FIRST 58", "answer": "58"},
                        {"kind": "text", "text": "SECOND 21", "answer": "21"},
                    ],
                },
                {"path": "n0.png", "prompt": "Which colour?", "answer": "A", "options": ["red", "blue"]},
            ]
        )
    )
    sets = load_needles(tmp_path)
    assert [s.mode for s in sets] == ["single", "single", "multihop", "single"]
    assert sets[0].needles[0].image == str((tmp_path / "n0.png").resolve()) and sets[0].answer == "Red"
    assert sets[2].answers == ("5821",) and len(sets[2].needles) == 2
    assert build_question(sets[3]).endswith("Best option:(")
    assert "A. red\nB. blue" in build_question(sets[3])


@pytest.mark.parametrize(
    "entries,match",
    [
        ([{"path": "missing.png", "prompt": "q", "answer": "a"}], "does not exist"),
        ([{"kind": "text", "prompt": "q", "answer": "a"}], "needs its 'text'"),
        ([{"kind": "text", "text": "x", "answer": "a"}], "prompt"),
        (
            [{"kind": "text", "text": "x", "prompt": "q", "answer": "red", "options": ["red", "blue"]}],
            "option letter",
        ),
        ([], "non-empty"),
    ],
)
def test_bad_needle_sets_are_refused(tmp_path, entries, match):
    (tmp_path / "dataset.json").write_text(json.dumps(entries))
    with pytest.raises((NeedleSetError, FileNotFoundError), match=match):
        load_needles(tmp_path)


def test_missing_dataset_json_says_what_to_do(tmp_path):
    with pytest.raises(NeedleSetError, match="dataset.json"):
        load_needles(tmp_path)


def test_generated_needles_round_trip(tmp_path):
    write_generated_needles(tmp_path, multi=True, multihop=True, choice=True, seed=3)
    sets = load_needles(tmp_path)
    choice = sets.pop()
    assert len(choice.options) == 4 and choice.answer in "ABCD"
    assert choice.options["ABCD".index(choice.answer)] in (
        "red",
        "green",
        "blue",
        "yellow",
        "purple",
        "orange",
    )
    kinds = [(s.mode, tuple(n.kind for n in s.needles)) for s in sets]
    assert kinds == [
        ("single", ("image",)),
        ("single", ("text",)),
        ("single", ("speech",)),
        ("multi", ("text", "text")),
        ("multihop", ("text", "text")),
    ]
    hop = sets[-1]
    assert hop.answer == "".join(n.answer for n in hop.needles)


def test_multi_needle_placements_spread_after_depth(tmp_path):
    write_generated_needles(tmp_path, kinds=(), multi=True)
    (multi,) = load_needles(tmp_path)
    assert [p.index for p in placements_for(multi, 100, 0.5)] == [50, 75]
    assert [p.index for p in placements_for(multi, 100, 0.0)] == [0, 50]
    assert [p.index for p in placements_for(multi, 100, 1.0)] == [98, 99]  # never on the same frame
    assert [p.index for p in placements_for(multi, 100, 0.99)] == [98, 99]


def test_score_cell_modes(tmp_path):
    write_generated_needles(tmp_path, kinds=("text",), multi=True, multihop=True, seed=0)
    single, multi, hop = load_needles(tmp_path)
    assert score_cell(single, CellOutcome(prediction=f"The word is {single.answer}.")) == CellScore(True, 1.0)
    a, b = multi.answers
    assert score_cell(multi, CellOutcome(prediction=f"{a} only")) == CellScore(False, 0.5)
    assert score_cell(multi, CellOutcome(prediction=f"{b} and {a}")) == CellScore(True, 1.0)
    assert score_cell(hop, CellOutcome(prediction=f"The code is {hop.answer}")).correct
    half = CellOutcome(prediction=f"{hop.needles[0].answer}")
    assert not score_cell(hop, half).correct  # one half is not enough
    assert score_cell(single, CellOutcome(prediction="", greedy_match=True)) == CellScore(True, 1.0)


# ----------------------------------------------------------------------------- results
def test_result_store_resumes_and_refuses_other_settings(tmp_path):
    store = ResultStore(tmp_path, {"engine": "x"})
    r = CellResult(frames=200, depth=0.4, needle="n", correct=True, score=1.0)
    assert not store.has(200, 0.4, "n")
    store.save(r)
    store.save(CellResult(frames=400, depth=0.4, needle="n", correct=False, score=0.0, error="boom"))
    again = ResultStore(tmp_path, {"engine": "x"})
    assert again.has(200, 0.4, "n") and len(again.load_all()) == 2
    assert again.has(400, 0.4, "n") and not again.has(400, 0.4, "n", count_errors=False)  # retried on resume
    summary = again.summarise()
    assert summary["average_accuracy"] == 0.5 and summary["num_errors"] == 1
    assert summary["by_frames"] == {"200": 1.0, "400": 0.0}
    png = tmp_path / "heatmap.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "results.json").read_text())["settings"] == {"engine": "x"}
    with pytest.raises(ResultsMismatchError, match="engine"):
        ResultStore(tmp_path, {"engine": "y"})


# ----------------------------------------------------------------------------- a real run
def test_run_niah_finds_image_needles_and_resumes(tmp_path, haystack_60s, pixel_engine):
    haystack, _ = haystack_60s
    write_generated_needles(tmp_path / "needles", kinds=("image",), per_kind=2, seed=5, image_size=(160, 90))
    sets = load_needles(tmp_path / "needles")
    grid = NiahGrid(frames=(10, 30), depths=(0.0, 0.5, 1.0))
    calls = []
    engine = pixel_engine()
    orig = engine.ask
    engine.ask = lambda v, q: calls.append(v) or orig(v, q)
    summary = run_niah(VideoEngineAdapter(engine, width=320), haystack, sets, grid, tmp_path / "out")
    assert summary["average_accuracy"] == 1.0, summary["cells"]
    assert len(summary["cells"]) == 6 and summary["num_results"] == 12
    assert (tmp_path / "out" / "heatmap_image0.png").is_file() and (
        tmp_path / "out" / "heatmap_image1.png"
    ).is_file()
    cell = json.loads((tmp_path / "out/cells/000030_0.5000_image0.json").read_text())
    assert cell["insert_at"] == [15] and cell["details"]["needle_times_s"] == [15.0]
    assert cell["details"]["cites_needle"] and cell["details"]["cell_frames"] == 30  # overlaid in place
    # resumed: nothing is asked again
    n = len(calls)
    run_niah(VideoEngineAdapter(engine, width=320), haystack, sets, grid, tmp_path / "out")
    assert len(calls) == n == 12


def test_insert_mode_adds_a_frame_like_longva(tmp_path, haystack_60s, pixel_engine):
    haystack, _ = haystack_60s
    write_generated_needles(tmp_path / "needles", kinds=("image",), seed=5)
    sets = load_needles(tmp_path / "needles")
    adapter = VideoEngineAdapter(pixel_engine(), width=320, mode="insert", reuse=False)
    summary = run_niah(adapter, haystack, sets, NiahGrid(frames=(10,), depths=(0.3, 1.0)), tmp_path / "out")
    assert summary["average_accuracy"] == 1.0
    cell = json.loads((tmp_path / "out/cells/000010_1.0000_image0.json").read_text())
    assert cell["details"]["cell_frames"] == 11 and cell["details"]["needle_times_s"] == [10.0]


def test_overlay_cells_keep_every_other_frame_and_mix_speech(tmp_path, haystack_60s):
    import shutil

    import av

    from longvid.eval.niah.render import AUDIO_RATE, Placement, RenderedCell, SampledHaystack, render_cell

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    haystack, _ = haystack_60s
    write_generated_needles(tmp_path / "n", kinds=("text", "speech"), seed=1)
    text, speech = (s.needles[0] for s in load_needles(tmp_path / "n"))
    hs = SampledHaystack(haystack, tmp_path / "w", max_frames=20, width=320).prepare()
    cells = []
    for name, idx in (("a", 5), ("b", 12)):
        out = tmp_path / f"{name}.mkv"
        where = render_cell(
            hs,
            20,
            [Placement(idx, text), Placement(idx + 2, speech)],
            out,
            speech_cache=tmp_path / "sp",
            mode="overlay",
            lossless=True,
        )
        assert where == RenderedCell((float(idx), float(idx + 2)), 20)
        with av.open(str(out)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        with av.open(str(out)) as c:
            audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)]).astype(np.float32)
        cells.append((frames, audio / 32768.0))
    (fa, aa), (fb, ab) = cells
    same = [i for i in range(20) if np.array_equal(fa[i], fb[i])]
    assert same == [i for i in range(20) if i not in (5, 12)]  # lossless: only the needle frames differ
    assert np.abs(fa[5].astype(int) - fb[5]).mean() > 5
    loud = lambda a, t: float(np.abs(a[int(t * AUDIO_RATE) : int((t + 1) * AUDIO_RATE)]).mean())
    assert loud(aa, 7) > 5 * max(loud(ab, 7), 1e-4)  # the phrase is heard at 7 s in cell a only
    assert loud(ab, 14) > 5 * max(loud(aa, 14), 1e-4)


def test_content_memo_reuses_identical_inputs_only():
    import torch

    from longvid.eval.niah.memo import MemoEmbedder, MemoEncoder, MemoOCR
    from longvid.types import FrameBatch, FrameFeatures

    class Inner:
        calls = 0

        def encode(self, batch):
            Inner.calls += len(batch)
            x = torch.as_tensor(batch.frames.reshape(len(batch), -1).mean(1, dtype=np.float64)).float()
            return FrameFeatures(x[:, None, None].repeat(1, 1, 4), (1, 1), torch.as_tensor(batch.timestamps_s),
                                 torch.as_tensor(batch.indices))

        def read(self, frame):
            Inner.calls += 1
            return [(f"mean {frame.mean():.1f}", 0.9)]

        def embed(self, texts):
            Inner.calls += len(texts)
            return np.array([[len(t), 1.0] for t in texts])

    def batch(frames):
        t = np.arange(len(frames), dtype=np.float64)
        return FrameBatch(frames, t, t, np.arange(len(frames)))

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (4, 8, 8, 3), dtype=np.uint8)
    enc = MemoEncoder(Inner())
    first = enc.encode(batch(frames))
    again = enc.encode(batch(np.concatenate([frames[2:], frames[:1] + 1])))  # two repeats, one new frame
    assert Inner.calls == 5 and (enc.hits, enc.misses) == (2, 5)
    assert torch.equal(again.features[:2], first.features[2:]) and again.grid == (1, 1)
    assert not torch.equal(again.features[2], first.features[0])
    assert again.frame_indices.tolist() == [0, 1, 2]  # provenance is the new batch's, not the cached one's
    ocr = MemoOCR(Inner())
    assert ocr.read(frames[0]) == ocr.read(frames[0].copy()) and ocr.misses == 1 and ocr.hits == 1
    emb = MemoEmbedder(Inner())
    out = emb.embed(["a", "bb", "a"])
    assert out.shape == (3, 2) and emb.misses == 2 and emb.hits == 1


def test_haystack_too_short_for_the_grid(tmp_path, haystack_60s, pixel_engine):
    haystack, _ = haystack_60s
    write_generated_needles(tmp_path / "n", kinds=("image",))
    with pytest.raises(VideoTooShortError, match="longer haystack"):
        run_niah(
            VideoEngineAdapter(pixel_engine()),
            haystack,
            load_needles(tmp_path / "n"),
            NiahGrid(frames=(600,), depths=(0.5,)),
            tmp_path / "out",
        )


def test_feature_access_is_a_declared_capability(pixel_engine):
    from longvid.eval.niah.adapters import (
        FeatureEngine,
        FeatureEngineAdapter,
        TeacherForcedFeatureEngine,
        feature_engine_for,
    )

    class Features:
        name = "features"

        def encode_frames(self, frames):
            return frames

        def generate_from_features(self, features, question, *, max_new_tokens=None):
            return ""

    feats = Features()
    assert isinstance(feats, FeatureEngine) and not isinstance(feats, TeacherForcedFeatureEngine)
    assert feature_engine_for(feats) is feats
    assert feature_engine_for(pixel_engine()) is None  # ask() only: the video adapter serves it
    with pytest.raises(LongvidError, match="TeacherForcedFeatureEngine"):
        FeatureEngineAdapter(feats, scoring="teacher_forced")


def test_a_spoken_needle_at_the_end_finishes_before_the_audio_does(tmp_path, haystack_60s):
    import shutil

    import av

    from longvid.eval.niah.render import AUDIO_RATE, Placement, SampledHaystack, render_cell
    from longvid.synth.speech import speak

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    haystack, _ = haystack_60s
    write_generated_needles(tmp_path / "n", kinds=("speech",), seed=1)
    speech = load_needles(tmp_path / "n")[0].needles[0]
    hs = SampledHaystack(haystack, tmp_path / "w", max_frames=20, width=320).prepare()
    out = tmp_path / "end.mkv"
    where = render_cell(hs, 20, [Placement(19, speech)], out, speech_cache=tmp_path / "sp", mode="overlay",
                        lossless=True)
    with av.open(str(out)) as c:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)]).astype(np.float32) / 32768.0
    from longvid.eval.niah.render import NEEDLE_PEAK, NEEDLE_WORDS_PER_MINUTE

    voice = speak(speech.text, words_per_minute=NEEDLE_WORDS_PER_MINUTE, peak=NEEDLE_PEAK, cache_dir=tmp_path / "sp")
    start = where.times_s[0]
    assert start + len(voice) / AUDIO_RATE <= 20.0 - 0.5 + 1e-6  # the whole phrase, and half a second after
    assert float(np.abs(audio[int(start * AUDIO_RATE):]).max()) > 0.05  # and it is there
