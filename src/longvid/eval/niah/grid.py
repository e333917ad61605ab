"""The V-NIAH grid: haystack lengths (frames) x needle depths, and where a needle goes.

Design decisions:
- Defaults are the published ones (LongVA): haystack sampled at 1 fps, 200..3000 frames step
  200, depths 0..100% step 20% (90 cells). Any grid can be given.
- A cell with ``N`` haystack frames and depth ``d`` inserts the needle as one extra frame at
  index ``int(d * N)`` (so depth 1.0 puts it after the last haystack frame).
- Several needles in one cell (multi-needle, multi-hop) start at the cell depth and spread
  evenly over the rest of the haystack: needle ``i`` of ``k`` at depth ``d + i * (1 - d) / k``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from longvid.errors import InvalidSamplingError


@dataclass(frozen=True)
class NiahGrid:
    # haystack lengths in sampled frames (= seconds at 1 fps); LongVA: 200..3000 step 200
    frames: tuple[int, ...] = field(default_factory=lambda: tuple(range(200, 3001, 200)))
    # needle depths as a fraction of the haystack; LongVA: 0..1 step 0.2
    depths: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    # haystack sampling rate, frames per second; LongVA samples the haystack at 1 fps
    fps: float = 1.0

    def __post_init__(self) -> None:
        if not self.frames or any(int(n) != n or n < 1 for n in self.frames):
            raise InvalidSamplingError(f"frames must be positive integers, got {self.frames}")
        if not self.depths or any(not 0.0 <= d <= 1.0 for d in self.depths):
            raise InvalidSamplingError(f"depths must lie in [0, 1], got {self.depths}")
        if not self.fps > 0:
            raise InvalidSamplingError(f"fps must be > 0, got {self.fps}")
        object.__setattr__(self, "frames", tuple(sorted({int(n) for n in self.frames})))
        object.__setattr__(self, "depths", tuple(sorted({float(d) for d in self.depths})))

    @property
    def max_frames(self) -> int:
        return self.frames[-1]

    def cells(self) -> list[tuple[int, float]]:
        return [(n, d) for n in self.frames for d in self.depths]


def insertion_index(depth: float, num_frames: int) -> int:
    """Frame index where the needle is inserted: ``int(depth * N)`` (LongVA)."""
    assert 0.0 <= depth <= 1.0 and num_frames >= 0, (depth, num_frames)
    return int(depth * num_frames)


def needle_depths(depth: float, count: int) -> list[float]:
    """Depths for ``count`` needles of one cell: the first at ``depth``, the rest spread after it."""
    assert count >= 1
    return [depth + i * (1.0 - depth) / count for i in range(count)]


def parse_list(text: str, kind: type = int) -> tuple:
    """ "200,400" -> (200, 400); "200:1000:200" -> (200, 400, 600, 800, 1000) (end included)."""
    out: list = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if ":" in part:
            a, b, step = (float(x) for x in part.split(":"))
            if step <= 0:
                raise InvalidSamplingError(f"step must be > 0 in {part!r}")
            k = 0
            while a + k * step <= b + 1e-9:
                out.append(kind(round(a + k * step, 9)))
                k += 1
        else:
            out.append(kind(part))
    return tuple(out)
