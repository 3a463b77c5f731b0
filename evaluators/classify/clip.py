"""CLIP through transformers: loading (hub id, local directory) and the backbone's fast encoders.

Shared loading rules (device, precision, weights or seeded random init): model_loading.py; CPU kernels:
cpu_kernels.py.

Speed notes (numbers in bench/RESULTS.md, measured by bench/bench_clip.py):

- Precision "auto" is fp16 on CUDA and *mixed bf16* on CPUs with native bf16 (AVX512-BF16, AMX), else
  fp32. Mixed bf16 is the autocast recipe with weights cast once: every matmul takes bf16 inputs and
  accumulates in fp32, while the residual stream, LayerNorms, attention softmax and pooled output stay
  fp32. On this project's CPU it is ~3x faster than fp32 and agrees with fp32 on 100% of the top-1
  predictions of the 1,000-image benchmark.
- On CPU every Linear goes through oneDNN (``torch.ops.mkldnn._linear_pointwise``, the kernel
  torch.compile emits) with the bias and the MLP activation fused into the matmul; it is checked against
  F.linear once per process and falls back to it. transformers' own forward still runs the vision tower.
- Texts use a hand-written forward over the model's own modules (equal to ``get_text_features`` of the
  untouched transformers model within 2e-6, tests/test_clip_text_forward.py) that
  1. pads each batch to its longest prompt (prompts sorted by length), never to 77;
  2. computes the tokens that all prompts of a group share at the front (the template's words before the
     class name) once: with causal attention their hidden states, and so their keys and values in every
     layer, do not depend on what follows, so each prompt only runs its own suffix against that cache;
  3. runs the last layer for the pooled end-of-text token only (the only output CLIP uses);
  4. fuses the query, key and value projections into one matmul, and on CPU computes the (few-token)
     attention with plain fp32 matmuls, faster there than SDPA's flash kernel.
- Images: decoding and preprocessing run in a thread pool, a few batches ahead of the batched forward.

``ClipBackbone.model`` carries these swapped CPU kernels (with rescaled MLP weights): use it for inference
only, never save it.
"""

from __future__ import annotations

import functools
import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import CLIPConfig, CLIPModel, CLIPTokenizerFast

try:  # transformers 5: the PIL backend of CLIPImageProcessor, the one that needs no torchvision
    from transformers import CLIPImageProcessorPil as _ImageProcessor
except ImportError:  # pragma: no cover - older transformers, where CLIPImageProcessor is the PIL one
    from transformers import CLIPImageProcessor as _ImageProcessor

from promptclimb.evaluators.cache import image_key
from promptclimb.evaluators.classify.cpu_kernels import CpuLinear, to_cpu_kernels
from promptclimb.evaluators.classify.model_loading import (
    RANDOM_INIT_SEED,
    config_hash,
    first_line,
    hub_offline,
    precision_label,
    resolve_device,
    resolve_precision,
    sha16,
    weights_fingerprint,
    weights_or_random,
)
from promptclimb.evaluators.classify.specs import ModelLoadError
from promptclimb.evaluators.classify.text_batches import token_batches
from promptclimb.evaluators.images import UnreadableImage, open_rgb

logger = logging.getLogger(__name__)

EXAMPLE_LOCAL_CLIP = "../shared/assets/clip-vit-base-patch32"
# Prompt groups smaller than this, or sharing fewer tokens, go through the pooled path instead.
MIN_GROUP_FOR_PREFIX = 8
MIN_SHARED_TOKENS = 2


# ------------------------------------------------------------------------------------------ loading


def load_clip(
    model: str, *, device: str | None = None, precision: str = "auto", share_prefix: bool = True
) -> ClipBackbone:
    """Load CLIP from a Hugging Face id, a local directory with weights, or a config-only directory.

    A config-only directory (config.json, tokenizer and preprocessor files, no weights) gets random weights
    from a fixed seed: identical in every process, so a resumed run scores exactly as before.
    """
    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    local = Path(model).expanduser()
    if local.is_dir():
        clip, tokenizer, processor, source, fingerprint = _load_local(local)
    elif local.exists():
        raise ModelLoadError(f"CLIP model path is not a directory: {model}")
    else:
        clip, tokenizer, processor, source, fingerprint = _load_hub(model)
    random_weights = fingerprint == f"random-init-seed{RANDOM_INIT_SEED}"
    if random_weights:
        logger.warning(
            "RANDOM WEIGHTS: %s holds no weights, so CLIP was randomly initialised (seed %d). "
            "ACCURACIES ARE MEANINGLESS: use this only for speed and plumbing tests.",
            model,
            RANDOM_INIT_SEED,
        )
    processor = _match_image_size(processor, clip.config)
    identity = "|".join(
        [
            source,
            "config=" + config_hash(clip.config),
            "tokenizer=" + sha16(tokenizer.backend_tokenizer.to_str()),
            "preprocess=" + sha16(processor.to_json_string()),
            "weights=" + fingerprint,
            precision_label(precision, device),
        ]
    )
    return ClipBackbone(
        clip,
        tokenizer,
        processor,
        identity=identity,
        random_weights=random_weights,
        device=device,
        precision=precision,
        share_prefix=share_prefix,
    )


def _load_local(directory: Path) -> tuple[CLIPModel, CLIPTokenizerFast, _ImageProcessor, str, str]:
    source = str(directory.resolve())
    if not (directory / "config.json").is_file():
        raise ModelLoadError(f"no config.json in CLIP model directory {source}")
    tokenizer, processor = _load_processing(source)
    clip, fingerprint = weights_or_random(directory, CLIPModel, CLIPConfig, "CLIP")
    return clip, tokenizer, processor, source, fingerprint


def _load_hub(model_id: str) -> tuple[CLIPModel, CLIPTokenizerFast, _ImageProcessor, str, str]:
    """The path users run: ``from_pretrained("openai/clip-vit-base-patch32")`` (HF cache first)."""
    hint = f"pass a local directory, e.g. --clip {EXAMPLE_LOCAL_CLIP}"
    attempts = [True] if hub_offline() else [True, False]
    last: Exception | None = None
    for local_only in attempts:
        try:
            clip = CLIPModel.from_pretrained(
                model_id, dtype=torch.float32, attn_implementation="sdpa", local_files_only=local_only
            )
            tokenizer = CLIPTokenizerFast.from_pretrained(model_id, local_files_only=local_only)
            processor = _ImageProcessor.from_pretrained(model_id, local_files_only=local_only)
        except Exception as exc:  # noqa: BLE001 - hub errors come in many types; all mean "cannot load"
            last = exc
            continue
        return clip.eval(), tokenizer, processor, f"hf:{model_id}", weights_fingerprint(clip)
    reason = first_line(last) if last is not None else "unknown error"
    raise ModelLoadError(f"cannot load CLIP '{model_id}' from the Hugging Face hub ({reason}); {hint}")


def _load_processing(source: str) -> tuple[CLIPTokenizerFast, _ImageProcessor]:
    """Tokenizer and preprocessor of a directory; kept per process while their files are unchanged
    (building the tokenizer parses ~2 MB of JSON, and a suite or a test session loads the same one often)."""
    files = sorted(p for p in Path(source).iterdir() if p.is_file() and p.suffix in (".json", ".txt"))
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return _load_processing_cached(source, stamp)


@functools.lru_cache(maxsize=8)
def _load_processing_cached(source: str, stamp: tuple) -> tuple[CLIPTokenizerFast, _ImageProcessor]:
    try:
        tokenizer = CLIPTokenizerFast.from_pretrained(source)
        processor = _ImageProcessor.from_pretrained(source)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(
            f"cannot load the CLIP tokenizer / preprocessor from {source}: {first_line(exc)}"
        ) from exc
    return tokenizer, processor


def _match_image_size(processor: _ImageProcessor, config: CLIPConfig) -> _ImageProcessor:
    """Tiny test configs have image_size != the real preprocessor's 224 crop: resize to the model's size."""
    size = int(config.vision_config.image_size)
    crop = processor.crop_size
    crop_hw = (crop["height"], crop["width"]) if isinstance(crop, dict) else (crop.height, crop.width)
    if crop_hw == (size, size):
        return processor
    settings = {
        **processor.to_dict(),
        "size": {"shortest_edge": size},
        "crop_size": {"height": size, "width": size},
    }
    return type(processor).from_dict(settings)


# ------------------------------------------------------------------------------------------ backbone


class _PlainLinear(nn.Module):
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.detach(), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias.detach(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


def _fused_qkv(attention: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of one [3d, d] projection for queries, keys and values: one matmul, not three."""
    parts = (attention.q_proj, attention.k_proj, attention.v_proj)
    return torch.cat([p.weight.detach() for p in parts]), torch.cat([p.bias.detach() for p in parts])


def _prepare(clip: CLIPModel, device: str, precision: str) -> tuple[CLIPModel, list[nn.Module]]:
    """The model on its device in its precision, and the fused qkv projection of every text layer."""
    clip = clip.to(device).eval()
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    qkv = [_fused_qkv(layer.self_attn) for layer in clip.text_model.encoder.layers]
    if device.startswith("cpu"):
        to_cpu_kernels(clip, dtype)
        fused: list[nn.Module] = [CpuLinear(w, b, dtype) for w, b in qkv]
    else:
        clip = clip.to(dtype)
        fused = [_PlainLinear(w.to(dtype), b.to(dtype)) for w, b in qkv]
    for parameter in clip.parameters():
        parameter.requires_grad_(False)
    return clip, fused


@dataclass
class _Prompt:
    ids: list[int]
    truncated: bool
    pool: int  # position of the token CLIP pools (end of text)


class ClipBackbone:
    """A loaded CLIP: L2-normalised image and text features as float32 numpy arrays."""

    def __init__(
        self,
        clip: CLIPModel,
        tokenizer: CLIPTokenizerFast,
        processor: _ImageProcessor,
        *,
        identity: str,
        random_weights: bool,
        device: str,
        precision: str,
        share_prefix: bool = True,
    ) -> None:
        self.identity = identity
        self.random_weights = random_weights
        self.device = device
        self.precision = precision
        self.dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        self.share_prefix = share_prefix
        self.model, self._qkv = _prepare(clip, device, precision)
        self.tokenizer = tokenizer
        self.processor = processor
        text_config = clip.config.text_config
        self.max_text_tokens = int(text_config.max_position_embeddings)
        self.embed_dim = int(clip.config.projection_dim)
        self._eos_id = int(text_config.eos_token_id)
        self.image_batch_size = 32 if device.startswith("cpu") else 256
        self.loader_threads = max(2, min(8, os.cpu_count() or 2))

    def __repr__(self) -> str:
        return f"ClipBackbone({self.identity!r}, device={self.device!r})"

    # The scorer's dual-encoder interface: the inputs are image files, keyed by path, size and mtime.
    modality = "image"

    def input_key(self, item: Any) -> bytes | None:
        return image_key(self.identity, item.path)

    def encode_inputs(self, items: Sequence[Any]) -> tuple[np.ndarray, list[int]]:
        return self.encode_images([item.path for item in items])

    # ------------------------------------------------------------------------------------------ images

    def encode_images(self, paths: Sequence[str]) -> tuple[np.ndarray, list[int]]:
        """Features of the readable images [n_ok, d] and their indices in ``paths`` (unreadable skipped)."""
        chunks: list[np.ndarray] = []
        ok: list[int] = []
        for indices, pixels in self._pixel_batches(list(paths)):
            ok.extend(indices)
            chunks.append(self._image_forward(pixels))
        if not chunks:
            return np.zeros((0, self.embed_dim), np.float32), []
        return np.concatenate(chunks), ok

    def _pixel_batches(self, paths: list[str]) -> Iterator[tuple[list[int], np.ndarray]]:
        """Decoded, preprocessed batches, produced by a thread pool a few batches ahead of the consumer."""
        size = self.image_batch_size
        starts = iter(range(0, len(paths), size))
        with ThreadPoolExecutor(self.loader_threads, thread_name_prefix="clip-images") as pool:

            def submit(start: int) -> tuple[int, list[Future[np.ndarray | None]]]:
                return start, [pool.submit(self._pixels, p) for p in paths[start : start + size]]

            pending = deque(submit(s) for _, s in zip(range(3), starts, strict=False))
            while pending:
                start, futures = pending.popleft()
                following = next(starts, None)
                if following is not None:
                    pending.append(submit(following))
                arrays = [(start + i, f.result()) for i, f in enumerate(futures)]
                kept = [(i, a) for i, a in arrays if a is not None]
                if kept:
                    yield [i for i, _ in kept], np.stack([a for _, a in kept])

    def _pixels(self, path: str) -> np.ndarray | None:
        try:
            image = open_rgb(path)
            return self.processor(images=image, return_tensors="np")["pixel_values"][0]
        except (UnreadableImage, OSError, ValueError) as exc:
            logger.warning("skipping unreadable image: %s", first_line(exc))
            return None

    @torch.inference_mode()
    def _image_forward(self, pixels: np.ndarray) -> np.ndarray:
        batch = torch.from_numpy(pixels).to(self.device)
        if not self.device.startswith("cpu"):  # CPU kernels take fp32 in and cast themselves
            batch = batch.to(self.dtype)
        features = self.model.get_image_features(pixel_values=batch).pooler_output
        return _normalized(features)

    # ------------------------------------------------------------------------------------------- texts

    def encode_texts(self, prompts: Sequence[str]) -> tuple[np.ndarray, list[bool]]:
        """Features [n, d] of the prompts and, per prompt, whether it was cut to max_text_tokens."""
        return self.encode_text_groups([prompts])[0]

    def encode_text_groups(self, groups: Sequence[Sequence[str]]) -> list[tuple[np.ndarray, list[bool]]]:
        """encode_texts for several groups at once (a group: the class prompts of one template).

        Large groups whose prompts share leading tokens run through the shared-prefix path; all other
        prompts are pooled into large length-sorted batches.
        """
        tokenized = [self._tokenize(list(g)) for g in groups]
        features = [np.zeros((len(g), self.embed_dim), np.float32) for g in groups]
        pooled: list[tuple[int, int, _Prompt]] = []
        for g, prompts in enumerate(tokenized):
            shared = self._shared_prefix(prompts)
            if shared >= MIN_SHARED_TOKENS and len(prompts) >= MIN_GROUP_FOR_PREFIX:
                features[g][:] = self._encode_with_prefix(prompts, shared)
            else:
                pooled.extend((g, i, p) for i, p in enumerate(prompts))
        if pooled:
            rest = [p for *_, p in pooled]
            encoded = self._encode_with_prefix(rest, self._shared_prefix(rest))
            for row, (g, i, _) in enumerate(pooled):
                features[g][i] = encoded[row]
        return [(features[g], [p.truncated for p in tokenized[g]]) for g in range(len(groups))]

    def _tokenize(self, prompts: list[str]) -> list[_Prompt]:
        if not prompts:
            return []
        # verbose=False: over-long prompts are expected; they are cut below and flagged, not warned about.
        encoded = self.tokenizer(prompts, truncation=False, verbose=False)["input_ids"]
        limit = self.max_text_tokens
        out = []
        for ids in encoded:
            truncated = len(ids) > limit
            if truncated:  # what the tokenizer's own truncation gives: the first 76 tokens, then end-of-text
                ids = ids[: limit - 1] + ids[-1:]
            out.append(_Prompt(list(ids), truncated, self._pool_index(ids)))
        return out

    def _pool_index(self, ids: list[int]) -> int:
        """The position CLIPTextTransformer pools, by its own rule (legacy configs: the largest id)."""
        if self._eos_id == 2:
            return int(np.argmax(ids))
        return ids.index(self._eos_id) if self._eos_id in ids else 0

    def _shared_prefix(self, prompts: list[_Prompt]) -> int:
        """Leading tokens common to all prompts, never reaching a pooled position."""
        if not prompts or not self.share_prefix:
            return 0
        first = prompts[0].ids
        shared = min(p.pool for p in prompts)
        for prompt in prompts[1:]:
            limit = min(shared, len(prompt.ids))
            n = 0
            while n < limit and prompt.ids[n] == first[n]:
                n += 1
            shared = n
            if shared == 0:
                break
        return min(shared, min(p.pool for p in prompts))

    @torch.inference_mode()
    def _encode_with_prefix(self, prompts: list[_Prompt], shared: int) -> np.ndarray:
        """Encode the first `shared` tokens once, then every suffix in length-sorted, dynamically padded
        batches that attend to the cached keys and values of that prefix."""
        out = np.zeros((len(prompts), self.embed_dim), np.float32)
        if not prompts:
            return out
        prefix_ids = torch.tensor([prompts[0].ids[:shared]], device=self.device)
        past = self._text_layers(prefix_ids, offset=0, past=None, pool=None)[1] if shared else None
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i].ids))
        for batch in token_batches(order, [len(p.ids) - shared for p in prompts]):
            width = max(len(prompts[i].ids) for i in batch) - shared
            ids = torch.full((len(batch), width), self._eos_id if self._eos_id != 2 else 0, dtype=torch.long)
            for row, i in enumerate(batch):
                suffix = prompts[i].ids[shared:]
                ids[row, : len(suffix)] = torch.tensor(suffix)
            pool = torch.tensor([prompts[i].pool - shared for i in batch], device=self.device)
            hidden, _ = self._text_layers(ids.to(self.device), offset=shared, past=past, pool=pool)
            text = self.model.text_model
            features = self.model.text_projection(text.final_layer_norm(hidden))
            out[batch] = _normalized(features)
        return out

    def _text_layers(
        self,
        ids: torch.Tensor,
        *,
        offset: int,
        past: list[tuple[torch.Tensor, torch.Tensor]] | None,
        pool: torch.Tensor | None,
    ) -> tuple[torch.Tensor | None, list[tuple[torch.Tensor, torch.Tensor]]]:
        """The text transformer on ids [B, S] at positions offset.. attending to `past` keys/values.

        With `pool` (positions in ids) it returns the hidden state [B, d] of those tokens after the last
        layer, which runs for them only. Without, it returns (None, keys/values of every layer): the
        prefix cache.
        """
        text = self.model.text_model
        batch, length = ids.shape
        embeddings = text.embeddings
        positions = embeddings.position_embedding.weight[offset : offset + length]
        x = embeddings.token_embedding(ids) + positions
        n_past = past[0][0].shape[2] if past else 0
        keys_at = torch.arange(n_past + length, device=ids.device)
        causal = keys_at[None, :] <= (torch.arange(length, device=ids.device)[:, None] + n_past)
        layers = text.encoder.layers
        cache: list[tuple[torch.Tensor, torch.Tensor]] = []
        for index, layer in enumerate(layers):
            attn = layer.self_attn
            h = layer.layer_norm1(x)
            queries, keys, values = (_heads(t, attn.num_heads) for t in self._qkv[index](h).chunk(3, dim=-1))
            if past:
                keys = torch.cat([past[index][0].expand(batch, -1, -1, -1), keys], dim=2)
                values = torch.cat([past[index][1].expand(batch, -1, -1, -1), values], dim=2)
            if pool is None:
                cache.append((keys, values))
                if index == len(layers) - 1:
                    return None, cache
            if pool is not None and index == len(layers) - 1:
                rows = torch.arange(batch, device=ids.device)
                query = queries[rows, :, pool].unsqueeze(2)  # [B, heads, 1, d / heads]
                mask = (keys_at[None, :] <= (pool[:, None] + n_past))[:, None, None, :]
                mixed = self._attention(query, keys, values, mask, attn.scale)
                y = x[rows, pool] + attn.out_proj(mixed.reshape(batch, -1))
                return y + layer.mlp(layer.layer_norm2(y)), cache
            mixed = self._attention(queries, keys, values, causal, attn.scale)
            x = x + attn.out_proj(mixed.transpose(1, 2).reshape(batch, length, -1))
            x = x + layer.mlp(layer.layer_norm2(x))
        raise AssertionError("unreachable: the last layer returns")  # pragma: no cover

    def _attention(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        allowed: torch.Tensor,
        scale: float,
    ) -> torch.Tensor:
        """Softmax attention where `allowed` (broadcast to [B, heads, queries, keys]) is True.

        On CPU the sequences here are a handful of tokens, where SDPA's flash kernel spends its time on
        per-head overhead: plain fp32 matmuls are ~25% faster and exact (no bf16 rounding of the scores).
        """
        if not self.device.startswith("cpu"):
            return F.scaled_dot_product_attention(queries, keys, values, attn_mask=allowed, scale=scale)
        scores = torch.matmul(queries.float(), keys.float().transpose(-1, -2)).mul_(scale)
        scores.masked_fill_(~allowed, float("-inf"))
        return torch.matmul(scores.softmax(dim=-1), values.float()).to(queries.dtype)


def _heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """[B, S, d] -> [B, heads, S, d / heads]."""
    batch, length, width = x.shape
    return x.view(batch, length, num_heads, width // num_heads).transpose(1, 2)


def _normalized(features: torch.Tensor) -> np.ndarray:
    features = features.float()
    return F.normalize(features, dim=-1).cpu().numpy()
