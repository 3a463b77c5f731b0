"""Optional scorer ``open_clip:<architecture>/<pretrained>`` (e.g. ``open_clip:RN50/openai``), for
environments that have open_clip and a working torchvision (open_clip imports torchvision at import time).

open_clip is not a promptclimb dependency: where it (or torchvision) cannot be imported, loading says so in
one line and points to the torch-only ``openai:`` scorer, which loads OpenAI's checkpoints without either.
No fast path applies here: open_clip's own encode_image / encode_text run as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from promptclimb.evaluators.cache import image_key
from promptclimb.evaluators.classify.model_loading import (
    first_line,
    precision_label,
    resolve_device,
    resolve_precision,
    weights_fingerprint,
)
from promptclimb.evaluators.classify.specs import ModelLoadError
from promptclimb.evaluators.images import UnreadableImage, open_rgb

logger = logging.getLogger(__name__)
TEXT_BATCH = 256
IMAGE_BATCH = 32


def import_open_clip(target: str) -> Any:
    try:
        import open_clip
    except Exception as exc:  # noqa: BLE001 - a broken torchvision fails with RuntimeError, OSError, ...
        raise ModelLoadError(
            f"open_clip:{target} needs the open_clip package with a working torchvision (import failed: "
            f"{first_line(exc)}); for OpenAI's weights use the torch-only scorer: "
            f"--scorer {torch_only_twin(target)}"
        ) from exc
    return open_clip


def torch_only_twin(target: str) -> str:
    """The ``openai:`` spec of the same weights where there is one (``RN50/openai`` -> ``openai:RN50``)."""
    from promptclimb.evaluators.classify.openai_clip import checkpoint_name

    architecture, _, pretrained = target.partition("/")
    name = checkpoint_name(architecture) if pretrained == "openai" else None
    return f"openai:{name or 'RN50'}"


def split_target(target: str) -> tuple[str, str]:
    architecture, _, pretrained = target.partition("/")
    if not architecture or not pretrained:
        raise ModelLoadError(
            f"open_clip:{target} needs <architecture>/<pretrained>, e.g. open_clip:RN50/openai"
        )
    return architecture, pretrained


def load_open_clip(target: str, *, device: str | None = None, precision: str = "auto") -> OpenClipBackbone:
    architecture, pretrained = split_target(target)
    open_clip = import_open_clip(target)
    device = resolve_device(device)
    # No mixed-precision recipe here: a whole bf16 model on CPU would also round LayerNorms and softmax.
    precision = "fp32" if device.startswith("cpu") else resolve_precision(precision, device)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(architecture, pretrained=pretrained)
        tokenizer = open_clip.get_tokenizer(architecture)
    except Exception as exc:  # noqa: BLE001 - unknown names, failed downloads, ...
        raise ModelLoadError(f"open_clip cannot load {target}: {first_line(exc)}") from exc
    model = model.eval()
    identity = "|".join(
        [f"open_clip:{target}", "weights=" + weights_fingerprint(model), precision_label(precision, device)]
    )
    return OpenClipBackbone(
        model, preprocess, tokenizer, identity=identity, device=device, precision=precision
    )


class OpenClipBackbone:
    """A DualEncoder over an open_clip model, its image transform and its tokenizer."""

    modality = "image"
    random_weights = False

    def __init__(self, model: Any, preprocess: Any, tokenizer: Any, *, identity: str, device: str,
                 precision: str) -> None:  # fmt: skip
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        self.model = model.to(device=device, dtype=dtype)
        self.dtype, self.device = dtype, device
        self.preprocess, self.tokenizer = preprocess, tokenizer
        self.identity = identity
        self.context_length = int(getattr(tokenizer, "context_length", 77))
        with torch.inference_mode():
            self.embed_dim = int(self.model.encode_text(tokenizer(["a"]).to(device)).shape[-1])

    def input_key(self, item: Any) -> bytes | None:
        return image_key(self.identity, item.path)

    @torch.inference_mode()
    def encode_inputs(self, items: Sequence[Any]) -> tuple[np.ndarray, list[int]]:
        chunks, ok = [], []
        for start in range(0, len(items), IMAGE_BATCH):
            pixels = []
            for index, item in enumerate(items[start : start + IMAGE_BATCH], start):
                try:
                    pixels.append(self.preprocess(open_rgb(item.path)))
                    ok.append(index)
                except (UnreadableImage, OSError, ValueError) as exc:
                    logger.warning("skipping unreadable image: %s", first_line(exc))
            if pixels:
                batch = torch.stack(pixels).to(self.device, self.dtype)
                chunks.append(F.normalize(self.model.encode_image(batch).float(), dim=-1).cpu().numpy())
        if not chunks:
            return np.zeros((0, self.embed_dim), np.float32), []
        return np.concatenate(chunks), ok

    @torch.inference_mode()
    def encode_text_groups(self, groups: Sequence[Sequence[str]]) -> list[tuple[np.ndarray, list[bool]]]:
        out = []
        for group in groups:
            texts = list(group)
            chunks = []
            for start in range(0, len(texts), TEXT_BATCH):
                ids = self.tokenizer(texts[start : start + TEXT_BATCH]).to(self.device)
                chunks.append(F.normalize(self.model.encode_text(ids).float(), dim=-1).cpu().numpy())
            features = np.concatenate(chunks) if chunks else np.zeros((0, self.embed_dim), np.float32)
            out.append((features, [self._too_long(t) for t in texts]))
        return out

    def _too_long(self, text: str) -> bool:
        """Whether open_clip's tokenizer cut the prompt (its ids fill the context with no padding left)."""
        ids = self.tokenizer([text])[0]
        return bool(ids[-1] != 0)
