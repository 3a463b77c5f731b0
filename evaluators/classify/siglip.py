"""SigLIP and SigLIP 2 through transformers' SiglipModel / Siglip2Model, as a scorer's dual encoder.

Spec: ``siglip:<hub id or local dir>``, e.g. ``siglip:google/siglip-base-patch16-224``,
``siglip:google/siglip2-base-patch16-224`` or ``siglip:google/siglip2-base-patch16-naflex``. The config's
``model_type`` picks the classes:

- ``siglip``: SiglipModel and SiglipImageProcessor (square resize, no crop). SigLIP and SigLIP 2's
  fixed-resolution ("FixRes") checkpoints; the latter ship a Gemma tokenizer.
- ``siglip2``: SigLIP 2 NaFlex, Siglip2Model and Siglip2ImageProcessor: each image is resized, keeping its
  aspect ratio, to at most ``max_num_patches`` patches (the preprocessor config's, 256 on the hub), padded to
  that many, with a patch mask and its spatial shape; the tokenizer is transformers' Siglip2Tokenizer.
- anything else is refused with a one-line error.

Text encoding, exactly as the models were trained (big_vision) and as transformers' docs and zero-shot
pipeline prescribe (``padding="max_length"``, ``max_length=64``):

- Every prompt is tokenized by the checkpoint's own tokenizer, cut to ``max_position_embeddings`` (64) tokens
  by the tokenizer's truncation, and RIGHT-padded with the tokenizer's pad token to exactly that length.
- No attention mask is passed: the text tower attends to the padding, as in training (SigLIP's hub tokenizers
  return ``input_ids`` only). It pools the hidden state at the LAST position, so a prompt padded to another
  length gets another embedding (tests/test_siglip.py shows it): dynamic padding would be wrong, not slow.
- SigLIP (T5 sentencepiece vocabulary, SiglipTokenizer, needs ``sentencepiece`` and ``protobuf``): the
  tokenizer itself lowercases and strips punctuation (big_vision's canonicalisation) and appends ``</s>``,
  which is also the pad token.
- SigLIP 2 (Gemma vocabulary; the hub's FixRes checkpoints load a GemmaTokenizer, which neither lowercases nor
  pads on the right by default; NaFlex's Siglip2Tokenizer lowercases but pads on the left by default): it was
  trained on lowercased text, so prompts are lowercased here (Python's ``str.lower``) before tokenizing, and
  padding is forced to the right (pad id 0).
- Special tokens (SigLIP's ``</s>``, SigLIP 2's BOS/EOS) are whatever the checkpoint's tokenizer config adds,
  as transformers' processor does; SigLIP's truncation keeps the final ``</s>`` ("sticky" EOS).

Scoring: SigLIP's logit is ``exp(logit_scale) * cos + logit_bias`` through a sigmoid. Both maps are increasing
and the same for every class, so the argmax over classes of the probability, of the logit and of the cosine
are one class: ClipScorer's accuracy is SigLIP's zero-shot accuracy unchanged. The margin stays in cosine
units (the logit margin is ``exp(logit_scale)`` times it, the bias cancels; the order of templates of one
model is the same either way). An ensemble is, as for CLIP, the renormalised mean of the templates' normalised
text embeddings per class. ``logit_scale``/``logit_bias`` and ``probabilities()`` are exposed for callers
that want calibrated sigmoid probabilities; the scorer does not need them.

Speed: which of clip.py's fast paths apply.

- Apply (exact): prompts are encoded in fixed-shape batches of TEXT_BATCH prompts (every prompt is 64 tokens,
  so batching changes nothing); features are cached by ClipScorer under ``identity`` (source, config,
  tokenizer, preprocessor, weights fingerprint, precision, text rule), so no prompt or image is encoded twice;
  images are decoded and preprocessed in a thread pool ahead of the batched forward (ClipBackbone's pipeline;
  NaFlex images, each padded to max_num_patches, are batched with their patch masks, which is exact).
- Do not apply: dynamic padding (changes the embedding, see above); the shared-prefix key/value cache (the
  text tower is bidirectional: the template's leading tokens attend to the class name and the padding);
  clip.py's oneDNN kernel swap and mixed bf16 on CPU (not validated against SigLIP: CPU runs the untouched
  transformers modules in fp32, and ``bf16`` on CPU is refused). On CUDA, ``auto`` is fp16 as for CLIP (not
  measured for SigLIP here: this project's machines have no GPU).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    AutoTokenizer,
    PretrainedConfig,
    Siglip2Config,
    Siglip2Model,
    SiglipConfig,
    SiglipModel,
)

try:  # transformers 5: the PIL backends, the ones that need no torchvision
    from transformers import Siglip2ImageProcessorPil as _NaflexProcessor
    from transformers import SiglipImageProcessorPil as _ImageProcessor
except ImportError:  # pragma: no cover - older transformers, where the plain names are the PIL ones
    from transformers import Siglip2ImageProcessor as _NaflexProcessor
    from transformers import SiglipImageProcessor as _ImageProcessor

from promptclimb.evaluators.classify.clip import ClipBackbone, _normalized
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
from promptclimb.evaluators.classify.text_batches import regroup

logger = logging.getLogger(__name__)

# Prompts per text forward: on CPU 64 x 64 tokens, like text_batches.TEXT_TOKENS_PER_BATCH; larger on a GPU.
TEXT_BATCH = {"cpu": 64, "gpu": 1024}
TOKENIZER_HINT = "SigLIP's tokenizer needs sentencepiece and protobuf: pip install 'promptclimb[siglip]'"
# model_type -> (config, model, image processor): FixRes SigLIP and SigLIP 2, and SigLIP 2 NaFlex.
ARCHITECTURES: dict[str, tuple[type, type, type]] = {
    "siglip": (SiglipConfig, SiglipModel, _ImageProcessor),
    "siglip2": (Siglip2Config, Siglip2Model, _NaflexProcessor),
}


# ------------------------------------------------------------------------------------------ loading


def load_siglip(model: str, *, device: str | None = None, precision: str = "auto") -> SiglipBackbone:
    """Load SigLIP / SigLIP 2 from a Hugging Face id or a local directory (config-only: seeded random
    weights, identical in every process, as load_clip does)."""
    device = resolve_device(device)
    precision = _resolve_siglip_precision(precision, device)
    local = Path(model).expanduser()
    if local.is_dir():
        loaded = _load_local(local)
    elif local.exists():
        raise ModelLoadError(f"SigLIP model path is not a directory: {model}")
    elif model.startswith(("/", ".", "~")):  # a path, never a hub id: do not ask the hub about it
        raise ModelLoadError(f"SigLIP model directory not found: {model}")
    else:
        loaded = _load_hub(model)
    siglip, tokenizer, processor, source, fingerprint = loaded
    random_weights = fingerprint == f"random-init-seed{RANDOM_INIT_SEED}"
    if random_weights:
        logger.warning(
            "RANDOM WEIGHTS: %s holds no weights, so SigLIP was randomly initialised (seed %d). "
            "ACCURACIES ARE MEANINGLESS: use this only for speed and plumbing tests.",
            model,
            RANDOM_INIT_SEED,
        )
    processor = _match_processor(processor, siglip.config, source)
    rule = TextRule.of(tokenizer, siglip.config)
    identity = "|".join(
        [
            source,
            "config=" + config_hash(siglip.config),
            "tokenizer=" + tokenizer_fingerprint(tokenizer),
            "preprocess=" + sha16(processor.to_json_string()),
            "weights=" + fingerprint,
            precision_label(precision, device),
            rule.label(),
        ]
    )
    if siglip.config.model_type == "siglip2":
        processor = NaflexPacker(processor)
    return SiglipBackbone(siglip, tokenizer, processor, identity=identity, random_weights=random_weights,
                          device=device, precision=precision, rule=rule)  # fmt: skip


def _resolve_siglip_precision(precision: str, device: str) -> str:
    """clip.py's rules, except that CPU stays fp32: its mixed-bf16 kernels were validated on CLIP only."""
    if device.startswith("cpu") and precision == "bf16":
        raise ModelLoadError("bf16 on CPU is not validated for SigLIP (use fp32 or auto)")
    if device.startswith("cpu") and precision == "auto":
        return "fp32"
    return resolve_precision(precision, device)


def _architecture(config: dict[str, Any], source: str) -> tuple[type, type, type]:
    """(config class, model class, image processor class) of a checkpoint's model_type."""
    model_type = config.get("model_type")
    if model_type not in ARCHITECTURES:
        hint = "use hf:<id or dir> for CLIP" if model_type == "clip" else "siglip: needs a SigLIP model"
        raise ModelLoadError(f"{source} holds a '{model_type}' model, not SigLIP; {hint}")
    return ARCHITECTURES[model_type]


def _load_local(directory: Path) -> tuple[Any, Any, Any, str, str]:
    source = str(directory.resolve())
    if not (directory / "config.json").is_file():
        raise ModelLoadError(f"no config.json in SigLIP model directory {source}")
    try:
        config_dict, _ = PretrainedConfig.get_config_dict(source)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read the SigLIP config in {source}: {first_line(exc)}") from exc
    config_class, model_class, processor_class = _architecture(config_dict, source)
    try:
        tokenizer, processor = _processing(source, processor_class)
    except (OSError, ValueError, KeyError, TypeError, ImportError, AttributeError) as exc:
        hint = f"; {TOKENIZER_HINT}" if "sentencepiece" in str(exc).lower() or "protobuf" in str(exc) else ""
        raise ModelLoadError(
            f"cannot load the SigLIP tokenizer / preprocessor from {source}: {first_line(exc)}{hint}"
        ) from exc
    siglip, fingerprint = weights_or_random(directory, model_class, config_class, "SigLIP")
    return siglip, tokenizer, processor, source, fingerprint


def _processing(source: str, processor_class: type, **hub: Any) -> tuple[Any, Any]:
    # trust_remote_code=False: a directory's own tokenizer code is never imported.
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False, **hub)
    return tokenizer, processor_class.from_pretrained(source, **hub)


def _load_hub(model_id: str) -> tuple[Any, Any, Any, str, str]:
    """``from_pretrained(model_id)`` from the HF cache first, then the network (unless HF_HUB_OFFLINE)."""
    hint = "pass a local directory with config.json, tokenizer and preprocessor files"
    last: Exception | None = None
    for local_only in [True] if hub_offline() else [True, False]:
        try:
            config_dict, _ = PretrainedConfig.get_config_dict(model_id, local_files_only=local_only)
        except Exception as exc:  # noqa: BLE001 - hub errors come in many types; all mean "cannot load"
            last = exc
            continue
        _, model_class, processor_class = _architecture(config_dict, model_id)
        try:
            siglip = model_class.from_pretrained(
                model_id, dtype=torch.float32, attn_implementation="sdpa", local_files_only=local_only
            )
            tokenizer, processor = _processing(model_id, processor_class, local_files_only=local_only)
        except Exception as exc:  # noqa: BLE001 - as above
            last = exc
            continue
        return siglip.eval(), tokenizer, processor, f"siglip:{model_id}", weights_fingerprint(siglip)
    reason = first_line(last) if last is not None else "unknown error"
    tokenizer_hint = f"; {TOKENIZER_HINT}" if "sentencepiece" in str(last).lower() else ""
    raise ModelLoadError(
        f"cannot load SigLIP '{model_id}' from the Hugging Face hub ({reason}); {hint}{tokenizer_hint}"
    )


def _match_processor(processor: Any, config: Any, source: str) -> Any:
    """FixRes: tiny test configs have image_size != the real preprocessor's 224, so resize to the model's
    size (SigLIP resizes to a square, no crop). NaFlex: the processor's patch size must be the model's."""
    vision = config.vision_config
    if config.model_type == "siglip2":
        if int(processor.patch_size) != int(vision.patch_size):
            raise ModelLoadError(f"{source}: the preprocessor cuts {processor.patch_size}-pixel patches, "
                                 f"the model reads {vision.patch_size}-pixel ones")  # fmt: skip
        return processor
    size = int(vision.image_size)
    now = processor.size
    hw = (now["height"], now["width"]) if isinstance(now, dict) else (now.height, now.width)
    if hw == (size, size):
        return processor
    return type(processor).from_dict({**processor.to_dict(), "size": {"height": size, "width": size}})


class NaflexPacker:
    """A NaFlex image processor whose output for each image (patches, patch mask, spatial shape) is ONE
    numpy record, so ClipBackbone's image loader stacks it like CLIP's pixel arrays; SiglipBackbone's
    _image_forward unpacks the batch into get_image_features' three arguments."""

    FIELDS = ("pixel_values", "pixel_attention_mask", "spatial_shapes")

    def __init__(self, processor: Any) -> None:
        self.processor = processor

    def __call__(self, *, images: Any, return_tensors: str = "np") -> dict[str, np.ndarray]:
        out = self.processor(images=images, return_tensors="np")
        dtype = np.dtype([(name, out[name].dtype, out[name].shape[1:]) for name in self.FIELDS])
        packed = np.zeros(len(out["pixel_values"]), dtype)
        for name in self.FIELDS:
            packed[name] = out[name]
        return {"pixel_values": packed}

    def to_json_string(self) -> str:
        return self.processor.to_json_string()


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash of everything that decides the token ids: the tokenizers JSON, or the sentencepiece model and
    the slow tokenizer's settings (SiglipTokenizer has no tokenizers backend)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return sha16(backend.to_str())
    proto = tokenizer.sp_model.serialized_model_proto()
    settings = f"{type(tokenizer).__name__}|lower={getattr(tokenizer, 'do_lower_case', None)}"
    return sha16(proto.hex() + settings)


# ------------------------------------------------------------------------------------------ backbone


class TextRule:
    """How prompts become the text tower's input: see the module docstring."""

    def __init__(self, length: int, pad_id: int, lowercase: bool) -> None:
        self.length, self.pad_id, self.lowercase = length, pad_id, lowercase

    @classmethod
    def of(cls, tokenizer: Any, config: SiglipConfig | Siglip2Config) -> TextRule:
        if tokenizer.pad_token_id is None:
            raise ModelLoadError("the SigLIP tokenizer has no pad token, so it cannot pad to a fixed length")
        # SiglipTokenizer canonicalises (lowercases) itself; SigLIP 2's GemmaTokenizer does not (its
        # Siglip2Tokenizer does: lowercasing twice changes nothing).
        lowercase = not hasattr(tokenizer, "canonicalize_text")
        return cls(int(config.text_config.max_position_embeddings), int(tokenizer.pad_token_id), lowercase)

    def label(self) -> str:
        return f"text=pad{self.length}-right-id{self.pad_id}-nomask{'-lower' if self.lowercase else ''}"


class SiglipBackbone(ClipBackbone):
    """A loaded SigLIP or SigLIP 2: L2-normalised image and text features as float32 numpy arrays.

    Images go through ClipBackbone's pipeline (inherited: threaded decoding, batched
    ``get_image_features``); every text method is SigLIP's own, and none of CLIP's CPU kernels is installed.
    """

    def __init__(self, siglip: SiglipModel | Siglip2Model, tokenizer: Any, processor: Any, *, identity: str,
                 random_weights: bool, device: str, precision: str, rule: TextRule) -> None:  # fmt: skip
        self.identity = identity
        self.random_weights = random_weights
        self.device = device
        self.precision = precision
        self.dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        self.share_prefix = False  # bidirectional attention: there is no prefix to share
        self.model = siglip.to(device=device, dtype=self.dtype).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.tokenizer = tokenizer
        self.processor = processor
        self.rule = rule
        self.max_text_tokens = rule.length
        self.embed_dim = int(siglip.config.text_config.projection_size)
        self.logit_scale = float(siglip.logit_scale.detach().float().exp())
        self.logit_bias = float(siglip.logit_bias.detach().float())
        self.image_batch_size = 32 if device.startswith("cpu") else 256
        self.text_batch_size = TEXT_BATCH["cpu" if device.startswith("cpu") else "gpu"]
        self.loader_threads = max(2, min(8, os.cpu_count() or 2))

    def __repr__(self) -> str:
        return f"SiglipBackbone({self.identity!r}, device={self.device!r})"

    def probabilities(self, cosines: np.ndarray) -> np.ndarray:
        """SigLIP's sigmoid probability that image and text match, from their cosine."""
        return 1.0 / (1.0 + np.exp(-(self.logit_scale * cosines + self.logit_bias)))

    # ------------------------------------------------------------------------------------------- texts

    def token_ids(self, prompts: Sequence[str]) -> tuple[list[list[int]], list[bool]]:
        """The fixed-length ids the text tower reads, and per prompt whether the tokenizer cut it."""
        if not prompts:
            return [], []
        texts = [p.lower() for p in prompts] if self.rule.lowercase else list(prompts)
        full = self.tokenizer(texts, truncation=False, verbose=False)["input_ids"]
        padded = self.tokenizer(texts, padding="max_length", max_length=self.rule.length, truncation=True,
                                padding_side="right", return_attention_mask=False)["input_ids"]  # fmt: skip
        return [list(ids) for ids in padded], [len(ids) > self.rule.length for ids in full]

    def encode_texts(self, prompts: Sequence[str]) -> tuple[np.ndarray, list[bool]]:
        """Features [n, d] of the prompts and, per prompt, whether it was cut to 64 tokens."""
        ids, truncated = self.token_ids(prompts)
        features = np.zeros((len(ids), self.embed_dim), np.float32)
        size = self.text_batch_size
        for start in range(0, len(ids), size):
            features[start : start + size] = self._text_forward(ids[start : start + size])
        return features, truncated

    def encode_text_groups(self, groups: Sequence[Sequence[str]]) -> list[tuple[np.ndarray, list[bool]]]:
        """Every prompt is encoded alone at a fixed length, so groups only share batches."""
        features, truncated = self.encode_texts([p for group in groups for p in group])
        return regroup(groups, features, truncated)

    @torch.inference_mode()
    def _text_forward(self, ids: list[list[int]]) -> np.ndarray:
        input_ids = torch.tensor(ids, dtype=torch.long, device=self.device)
        return _normalized(self.model.get_text_features(input_ids=input_ids).pooler_output)

    @torch.inference_mode()
    def _image_forward(self, pixels: np.ndarray) -> np.ndarray:
        if pixels.dtype.names is None:  # FixRes: [B, 3, size, size]
            inputs = {"pixel_values": torch.from_numpy(pixels)}
        else:  # NaFlex: NaflexPacker's records
            inputs = {name: torch.from_numpy(pixels[name].copy()) for name in NaflexPacker.FIELDS}
        inputs = {name: tensor.to(self.device) for name, tensor in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        return _normalized(self.model.get_image_features(**inputs).pooler_output)
