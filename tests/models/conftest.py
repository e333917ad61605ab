from pathlib import Path

import pytest

from longvid.synth import testvideo as media


@pytest.fixture(scope="session")
def short_video(tmp_path_factory) -> Path:
    """12 s, 4 fps, 160x96 (landscape, so padding and masks matter), three scenes."""
    d = tmp_path_factory.mktemp("models_media")
    return media.make_video(d / "clip.mp4", duration_s=12.0, fps=4, size=(160, 96),
                            scenes=((0.0, (200, 40, 40), "red"), (4.0, (40, 200, 40), "green"),
                                    (8.0, (40, 40, 200), "blue")))


@pytest.fixture(scope="session")
def longvu_dir(tmp_path_factory):
    from longvid.models.testing import make_longvu

    return make_longvu(tmp_path_factory.mktemp("longvu"))


@pytest.fixture(scope="session")
def longva_dir(tmp_path_factory):
    from longvid.models.testing import make_longva

    return make_longva(tmp_path_factory.mktemp("longva"))


@pytest.fixture(scope="session")
def video(tmp_path_factory) -> str:
    """4 s, 8 fps, 112x84 (a 4x3 merged grid for the Qwen-VL towers): a red scene, then green."""
    d = tmp_path_factory.mktemp("qwen_media")
    return str(media.make_video(d / "clip.mp4", duration_s=4.0, fps=8, size=(112, 84),
                                scenes=((0.0, (200, 40, 40), "red"), (2.0, (40, 200, 40), "green"))))


@pytest.fixture(scope="session")
def static_video():
    """``static_video(n, h=84, w=112, fps=2.0)``: n identical frames (grey, one red box) as a
    Qwen-VL ``SampledVideo``: LongVU's temporal rule keeps exactly each window's middle group."""
    import numpy as np

    def make(n: int, h: int = 84, w: int = 112, fps: float = 2.0):
        from longvid.models.qwen_vl.model import SampledVideo

        frames = np.full((n, h, w, 3), 90, np.uint8)
        frames[:, 20:40, 30:60] = (200, 30, 30)
        return SampledVideo(frames, np.arange(n) / fps, fps)

    return make
