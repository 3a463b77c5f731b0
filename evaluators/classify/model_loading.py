"""Loading transformers vision-language models: device and precision choice, weights or seeded random
weights (a config-only directory), and the fingerprints that enter a model's cache identity.

CLIP (clip.py), SigLIP (siglip.py), OpenAI's CLIP (openai_clip.py), open_clip and the sentence encoder share
these rules, so a model's identity means the same thing in every backend.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import torch
from torch import nn

from promptclimb.evaluators.classify.specs import ModelLoadError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


RANDOM_INIT_SEED = 0


WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")  # fmt: skip


# How long a model load waits for the hub to accept a connection before it reads the local cache only.
HUB_PROBE_SECONDS = 2.0


# Chosen by bench/bench_clip.py on this project's 2-core CPU (see bench/RESULTS.md, section 5).
CPU_AUTO_PRECISION = "bf16"


CONFIG_KEYS_IGNORED = ("_name_or_path", "transformers_version", "_attn_implementation_autoset",
                       "_commit_hash", "torch_dtype", "dtype", "architectures")  # fmt: skip


def resolve_device(device: str | None) -> str:
    """None or "auto": CUDA, then Apple MPS, then CPU."""
    if device in (None, "", "auto"):
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    try:
        torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ModelLoadError(f"unknown device '{device}' (use cpu, cuda, cuda:N or mps)") from exc
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device '{device}' requested but CUDA is not available to this torch build")
    return device


def resolve_precision(precision: str, device: str) -> str:
    if precision not in PRECISIONS:
        raise ModelLoadError(f"unknown precision '{precision}' (choose from {', '.join(PRECISIONS)})")
    on_cpu = device.startswith("cpu")
    if precision == "auto":
        if device.startswith("cuda"):
            return "fp16"
        return CPU_AUTO_PRECISION if on_cpu and _cpu_has_fast_bf16() else "fp32"
    if precision == "fp16" and on_cpu:
        raise ModelLoadError("fp16 is not supported on CPU (use bf16 or fp32)")
    return precision


def precision_label(precision: str, device: str) -> str:
    """The precision as it enters the model identity: CPU bf16 is the mixed recipe, not a bf16 model."""
    return "bf16-mixed" if precision == "bf16" and device.startswith("cpu") else precision


def _cpu_has_fast_bf16() -> bool:
    """bf16 matmuls only pay off where oneDNN has native bf16 kernels (AVX512-BF16, AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def hub_offline() -> bool:
    """No download is tried: HF_HUB_OFFLINE is set, or the hub does not answer at once. A model that is not
    in the local cache is then one line in a second, not a minute of the hub client's retries."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    return not hub_answers(hub_address())


def hub_address() -> tuple[str, int]:
    """Where a download would connect first: the HTTPS proxy if one is set, else the hub ($HF_ENDPOINT)."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or os.environ.get("ALL_PROXY")
    url = proxy or os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


@functools.cache
def hub_answers(address: tuple[str, int], timeout: float = HUB_PROBE_SECONDS) -> bool:
    """Whether a TCP connection to ``address`` opens within ``timeout`` (asked once per process)."""
    try:
        with socket.create_connection(address, timeout=timeout):
            return True
    except (OSError, UnicodeError):  # no route, refused, unknown host, timeout; a malformed host name
        return False


def has_weights(directory: Path) -> bool:
    return any((directory / name).is_file() for name in WEIGHT_FILES) or any(directory.glob("*.safetensors"))


def weights_or_random(directory: Path, model_class: type, config_class: type, what: str) -> tuple[Any, str]:
    """(model, weights fingerprint) from a transformers model directory: its weights, or, in a directory
    with a config only, seeded random weights (fingerprint "random-init-seedN")."""
    source = str(directory.resolve())
    try:
        if has_weights(directory):
            model = model_class.from_pretrained(source, dtype=torch.float32, attn_implementation="sdpa")
            return model.eval(), weights_fingerprint(model)
        config = config_class.from_pretrained(source)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelLoadError(f"cannot load {what} from {source}: {first_line(exc)}") from exc
    return random_model(model_class, config), f"random-init-seed{RANDOM_INIT_SEED}"


def random_model(model_class: type, config: Any) -> Any:
    """Seeded initialisation without disturbing the caller's global RNG state."""
    config._attn_implementation = "sdpa"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        model = model_class(config)
    return model.eval()


def config_hash(config: Any) -> str:
    """A short hash of a model config, without the keys that name where or when it was saved."""

    def clean(value: object) -> object:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in CONFIG_KEYS_IGNORED}
        return value

    return sha16(json.dumps(clean(config.to_dict()), sort_keys=True, default=str))


def weights_fingerprint(clip: nn.Module) -> str:
    """sha256 of every parameter's name, shape and bytes: about 0.5 s for ViT-B/32, exact."""
    digest = hashlib.sha256()
    for name, tensor in sorted(clip.state_dict().items()):
        data = tensor.detach().to("cpu", torch.float32).contiguous()
        digest.update(f"{name}:{tuple(data.shape)}\n".encode())
        digest.update(data.numpy().tobytes())
    return digest.hexdigest()[:16]


def sha16(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def first_line(exc: BaseException | None) -> str:
    text = str(exc).strip().splitlines() if exc is not None else []
    return text[0] if text else type(exc).__name__
