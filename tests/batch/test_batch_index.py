"""Batch indexing: in process and on a local Ray (2 workers), against plain ``Indexer`` indexes."""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest

pytest.importorskip("rapidocr_onnxruntime", reason="the offline extra is not installed")

from longvid.batch import index_locally
from longvid.offline.config import IndexSettings

SETTINGS = IndexSettings(speech="none")  # tone audio holds no speech; skip Whisper's load in every worker


@pytest.fixture(scope="module")
def folder(media, tmp_path_factory):
    """Six 3-second videos with different scenes and captions, one of them corrupt."""
    d = tmp_path_factory.mktemp("batch")
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (40, 200, 200)]
    videos = []
    for i, colour in enumerate(colours):
        src = media(f"v{i}.mp4", duration_s=3.0, fps=5, size=(160, 120),
                    scenes=[(0.0, colour, f"CLIP {i} TITLE"), (1.5, (230, 230, 230), f"PART {i} TWO")])
        dst = d / f"v{i}.mp4"
        dst.write_bytes(src.read_bytes())
        videos.append(str(dst))
    bad = d / "v5_corrupt.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    videos.append(str(bad))
    return videos


def segments_of(cache, video):
    from longvid.offline.indexer import Indexer

    idx = Indexer(SETTINGS, cache_dir=cache).find(video)
    assert idx is not None, video
    segs = [(s.start_s, s.end_s, s.on_screen, s.transcript, s.tags) for s in idx.segments]
    emb = idx.embeddings.copy()
    idx.close()
    return segs, emb


@pytest.fixture(scope="module")
def plain(folder, tmp_path_factory):
    """The reference: each video indexed by the offline ``Indexer`` directly, one by one."""
    cache = tmp_path_factory.mktemp("plain")
    report = index_locally(folder, settings=SETTINGS, cache_dir=cache)
    return cache, report


def test_local_batch_reports_each_video(plain, folder):
    _, report = plain
    assert [o.status for o in report.outcomes] == ["indexed"] * 5 + ["failed"]
    assert "v5_corrupt.mp4" in report.outcomes[-1].video and report.outcomes[-1].error
    assert "1 failed" in report.table()


@pytest.fixture(scope="module")
def ray_pool(tmp_path_factory):
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    from longvid.batch.ray_backend import RayIndexer

    cache = tmp_path_factory.mktemp("ray")
    pool = RayIndexer(workers=2, settings=SETTINGS, cache_dir=cache)
    yield pool, cache
    pool.close()
    ray.shutdown()


@pytest.mark.slow
def test_ray_batch_equals_plain_index_survives_a_killed_worker_and_reruns_as_nothing(ray_pool, plain, folder):
    pool, cache = ray_pool
    pids = pool.worker_pids()
    assert len(set(pids)) == 2
    killed = threading.Event()

    def kill_one_worker(outcome, done, total):
        if not killed.is_set():  # after the first video: one worker is busy with another one
            killed.set()
            os.kill(pids[0], signal.SIGKILL)

    report = pool.run(folder, on_outcome=kill_one_worker)
    assert killed.is_set()
    assert [o.status for o in report.outcomes] == ["indexed"] * 5 + ["failed"]
    bad = report.outcomes[-1]
    assert bad.video.endswith("v5_corrupt.mp4") and bad.error and "worker died" not in bad.error
    assert set(pool.worker_pids()) - set(pids), "the killed worker was restarted"
    plain_cache, _ = plain
    for v in folder[:5]:  # the same index as plain indexing gives
        got, got_emb = segments_of(cache, v)
        want, want_emb = segments_of(plain_cache, v)
        assert got == want
        np.testing.assert_allclose(got_emb, want_emb, atol=1e-5)
    again = pool.run(folder)
    assert [o.status for o in again.outcomes] == ["skipped"] * 5 + ["failed"]
    assert again.outcomes[-1].error == bad.error


@pytest.mark.slow
def test_index_command_on_ray_prints_each_outcome(ray_pool, folder, capsys):
    """``longvid index FILES --ray --json``: one outcome per video, exit status 1 for the corrupt one."""
    import json

    from longvid.cli import main

    pool, cache = ray_pool
    pool.close()  # free the local Ray's two CPUs for the command's own workers
    code = main(["index", *folder, "--ray", "--workers", "2", "--cache", str(cache), "--json", "--no-progress"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [o["status"] in ("indexed", "skipped") for o in out] == [True] * 5 + [False]
    assert out[-1]["status"] == "failed" and out[-1]["error"]


@pytest.mark.slow
def test_workers_that_cannot_be_placed_are_an_error_not_a_hang(ray_pool):
    from longvid.batch.ray_backend import RayBatchError, RayIndexer

    with pytest.raises(RayBatchError, match="did not start within 3 s; the cluster has"):
        RayIndexer(workers=1, settings=SETTINGS, cpus_per_worker=64, start_timeout_s=3)
