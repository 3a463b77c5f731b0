#!/usr/bin/env bash
# The demo: set everything up, then optimize CLIP prompts on the shipped 10-class clothing images with the
# embedded local LLM (Qwen2.5-Coder-1.5B through llama.cpp) and CLIP ViT-B/32.
#   CLIP  Hugging Face id or local directory (default openai/clip-vit-base-patch32, downloaded on first use;
#         offline, pass a local directory)
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${MODELS:-qwen} bash scripts/setup.sh
. .venv/bin/activate
promptclimb run --data examples/clothing-mini --shots 1 --seed 1 \
  --clip "${CLIP:-openai/clip-vit-base-patch32}" --iterations "${ITERATIONS:-5}" --restarts "${RESTARTS:-2}" "$@"
