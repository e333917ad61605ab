"""Long-video benchmarks read from their published files in a local folder.

Design decisions:
- One file per benchmark, each registering itself in ``BENCHMARKS`` (third parties add theirs
  through the ``longvid.benchmarks`` entry-point group); importing this package registers the
  five built in: videomme, mlvu, longvideobench, egoschema, vnbench.
- ``runner.run_benchmark`` runs any engine over any of them and writes the results JSON.
"""

from longvid.eval.benchmarks import egoschema, longvideobench, mlvu, videomme, vnbench  # noqa: F401
from longvid.eval.benchmarks.base import BENCHMARKS, BenchmarkFilesError, BenchmarkItem

__all__ = ["BENCHMARKS", "BenchmarkFilesError", "BenchmarkItem"]
