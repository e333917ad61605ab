"""Evaluation: V-NIAH needle tests, long-video benchmarks, and the lmms-eval plugin.

Design decisions:
- Kept off the core import path: nothing in ``longvid`` imports ``longvid.eval``; this package
  imports engines only through ``longvid.engines`` and optional libraries (matplotlib, pyarrow,
  lmms_eval) only inside the functions that need them.
- Every score comes from ``longvid.eval.scoring`` so that V-NIAH, the benchmarks and the
  lmms-eval adapter read answers the same way.
- Results are plain JSON with the exact settings next to the numbers, written atomically,
  so a run can be resumed and compared later.
"""
