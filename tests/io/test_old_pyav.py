"""longvid's io on the PyAV that lmms-eval installs (``av<16``): its whole io test suite, run by
the lmms-eval environment's interpreter (``.venv-lmms``) on the longvid source under test.

Reading works on both PyAV generations (feature-detected); tests that write what only PyAV 17+
can write (subtitle streams, rotation metadata) or that need its MP4 index skip there, so a
failure here is a real incompatibility.
"""

import os
import subprocess
from pathlib import Path

import pytest

IO_TESTS = Path(__file__).resolve().parent


@pytest.mark.slow
def test_io_suite_passes_on_the_lmms_eval_pyav(lmms_python, lmms_env):
    if os.environ.get("LONGVID_OLD_PYAV_RUN"):  # never recurse, whatever the selection
        pytest.skip("already inside the old-PyAV run")
    version = subprocess.run([lmms_python, "-c", "import av; print(av.__version__)"], capture_output=True,
                             text=True, env=lmms_env, check=True).stdout.strip()
    proc = subprocess.run(
        [lmms_python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(IO_TESTS),
         "--ignore", str(Path(__file__).resolve())],
        capture_output=True, text=True, timeout=600, env={**lmms_env, "LONGVID_OLD_PYAV_RUN": "1"}, cwd=IO_TESTS.parents[1])
    assert proc.returncode == 0, f"io tests on PyAV {version}:\n{proc.stdout[-4000:]}"
    assert " passed" in proc.stdout.splitlines()[-1]
