"""The one thumbnail cut detector: shapes, axis order, value range, differences, the threshold."""

from __future__ import annotations

import numpy as np
import pytest

from longvid.errors import InvalidFeaturesError
from longvid.io.scenes import (
    SceneConfig,
    consecutive_differences,
    is_cut,
    scene_changes,
    thumbnail,
    thumbnail_difference,
)


def test_thumbnail_shapes_axis_order_and_range():
    frame = np.zeros((90, 160, 3), np.uint8)
    frame[:, 80:] = 255  # right half white: columns are the last axis
    th = thumbnail(frame)
    assert th.shape == (36, 64) and th.dtype == np.float32
    assert th[:, :31].max() == 0.0 and th[:, 33:].min() == 255.0
    batch = thumbnail(np.stack([frame, 255 - frame, frame]), SceneConfig(thumb_wh=(8, 4)))
    assert batch.shape == (3, 4, 8)
    assert 0.0 <= batch.min() and batch.max() <= 255.0
    np.testing.assert_array_equal(batch[0], batch[2])
    np.testing.assert_array_equal(batch[0], thumbnail(frame, SceneConfig(thumb_wh=(8, 4))))


def test_thumbnail_grey_is_luma():
    red = np.zeros((10, 10, 3), np.uint8)
    red[..., 0] = 255
    assert thumbnail(red, SceneConfig(thumb_wh=(2, 2)))[0, 0] == pytest.approx(0.299 * 255, abs=1.0)


def test_thumbnail_rejects_non_rgb_uint8():
    with pytest.raises(InvalidFeaturesError, match=r"\(\.\.\., H, W, 3\)"):
        thumbnail(np.zeros((10, 10), np.uint8))
    with pytest.raises(InvalidFeaturesError, match="uint8"):
        thumbnail(np.zeros((10, 10, 3), np.float32))


def test_difference_is_cut_and_threshold():
    a, b = np.zeros((36, 64), np.float32), np.full((36, 64), 20.0, np.float32)
    assert thumbnail_difference(a, b) == pytest.approx(20.0)
    assert not is_cut(None, a)
    assert not is_cut(a, b)  # 20 < the default 30
    assert is_cut(a, b, SceneConfig(threshold=12.0))
    assert consecutive_differences(np.stack([a, b, b])).tolist() == pytest.approx([20.0, 0.0])
    assert scene_changes(np.stack([a, b, a]), SceneConfig(threshold=12.0)).tolist() == [1, 2]
    with pytest.raises(InvalidFeaturesError, match="both be"):
        thumbnail_difference(a, b[:10])


@pytest.mark.parametrize("kw", [{"threshold": -1.0}, {"threshold": 300.0}, {"threshold": float("nan")},
                                {"thumb_wh": (0, 4)}, {"thumb_wh": (4,)}])
def test_scene_config_rejects_bad_values(kw):
    with pytest.raises(InvalidFeaturesError):
        SceneConfig(**kw)
