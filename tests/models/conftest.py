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
