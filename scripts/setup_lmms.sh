#!/usr/bin/env bash
# lmms-eval next to longvid, in its own environment (.venv-lmms), so that neither can break the
# other: lmms-eval 0.7.3 declares torch/torchvision (which would pull a CUDA torch) and av<16.
# Order matters: the CPU torch first, lmms-eval without its dependencies, then those
# dependencies except torch, torchvision and timm (timm wants torchvision; lmms-eval imports it
# only for models longvid does not use), each install constrained to the one torch.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LMMS_EVAL_VERSION=0.7.3
V=.venv-lmms
CONS=$(mktemp)
trap 'rm -f "$CONS" "$CONS.req"' EXIT
echo "torch==2.13.0" > "$CONS"

if [ ! -x $V/bin/python ]; then
  "$PY" -m venv $V
fi
$V/bin/python -m pip install -q --upgrade pip
$V/bin/python -m pip install -q "torch==2.13.0"
$V/bin/python -m pip install -q --no-deps "lmms-eval==${LMMS_EVAL_VERSION}"
# lmms-eval's own requirements (no extras), read from its installed metadata
$V/bin/python - > "$CONS.req" <<'PYEOF'
import re
from importlib.metadata import requires
for r in requires("lmms-eval") or []:
    if "extra ==" in r:
        continue
    name = re.split(r"[ <>=!~;\[]", r, maxsplit=1)[0].lower()
    if name not in {"torch", "torchvision", "timm"}:
        print(r)
PYEOF
$V/bin/python -m pip install -q -r "$CONS.req" -c "$CONS"
$V/bin/python -m pip install -q --no-deps timm
# lmms-eval's evaluator imports filelock's private module, gone in filelock 4
$V/bin/python -m pip install -q "filelock<4" -c "$CONS"
# longvid itself, on the PyAV lmms-eval keeps (av<16)
$V/bin/python -m pip install -q -e ".[offline,models,eval,test]" "av<16" -c "$CONS"
