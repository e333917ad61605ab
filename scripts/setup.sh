#!/usr/bin/env bash
# Set up everything longvid needs on a fresh machine (Python 3.10+, no GPU, no model hub):
# a virtual environment in .venv, the CPU build of torch first (so no dependency can pull a
# CUDA build), then longvid with its extras, then the system tools the tests use.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRAS=${LONGVID_EXTRAS:-all,offline-whisper-base,tags,test}

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[${EXTRAS}]"

# System tools: espeak-ng speaks test phrases, ffmpeg is the benchmark's reference decoder,
# chromium runs the web page's browser test (Playwright drives it; it downloads no browser).
need=()
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "optional tools missing: ${need[*]} (tests that need them are skipped)" >&2
  fi
fi

# lmms-eval in its own environment (.venv-lmms), for the evaluation tests and lmms-eval runs;
# LONGVID_LMMS=0 skips it (those tests then skip)
if [ "${LONGVID_LMMS:-1}" != 0 ]; then
  bash scripts/setup_lmms.sh
fi
