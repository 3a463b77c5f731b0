"""OpenAI's original CLIP checkpoints (RN50, RN101, ..., ViT-B/16, ViT-L/14) with torch only: the scorer
spec ``openai:<name>`` or ``openai:<path to a .pt file>``.

The paper's headline numbers use RN50, which transformers cannot represent and open_clip only loads with
torchvision. This loader reads the checkpoint (OpenAI's TorchScript archive or a plain state dict), builds
the architecture from the tensors' shapes, and scores through ClipBackbone:

- the text tower is mapped into transformers' CLIPTextTransformer (the same architecture: pre-LN,
  QuickGELU, causal mask, pooling at the largest token id), so every fast text path of clip.py applies:
  the shared causal prefix, length-sorted batches, fused qkv, oneDNN linears and mixed bf16 on CPU;
- a ViT image tower is mapped into transformers' CLIPVisionTransformer: oneDNN linears and mixed bf16;
- a ResNet image tower runs the plain torch module of openai_arch.py: its attention pool's linears go
  through oneDNN, and with bf16 on CPU the convolutional trunk runs under bf16 autocast.

Images are preprocessed as OpenAI's ``clip.load`` does, with PIL and numpy (no torchvision): shorter side
resized (bicubic) to the input resolution, center crop, RGB, CLIP's mean and std. Texts are cleaned as
OpenAI's tokenizer does (ftfy's fix_text, HTML unescaped twice, whitespace collapsed) before the Hugging Face
CLIP tokenizer, which has OpenAI's vocabulary, merges, lowercasing and special tokens.

Checkpoints download on first use into ``$PROMPTCLIMB_CACHE/openai-clip`` (files already in
``~/.cache/clip``, where OpenAI's package puts them, are used too); the sha256 in OpenAI's URL is checked.
"""

from __future__ import annotations

import functools
import hashlib
import html
import logging
import os
import re
import tempfile
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ftfy
import numpy as np
import torch
from PIL import Image
from torch import nn
from transformers import CLIPConfig, CLIPModel, CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizerFast
from transformers.modeling_outputs import BaseModelOutputWithPooling

from promptclimb.evaluators.classify.clip import ClipBackbone, _Prompt
from promptclimb.evaluators.classify.model_loading import (
    RANDOM_INIT_SEED,
    first_line,
    hub_offline,
    precision_label,
    resolve_device,
    resolve_precision,
    sha16,
)
from promptclimb.evaluators.classify.openai_arch import (
    NON_PARAMETER_KEYS,
    PRESETS,
    ArchitectureError,
    ModifiedResNet,
    OpenAIClip,
    OpenAIClipConfig,
    random_state_dict,
)
from promptclimb.evaluators.classify.specs import ModelLoadError
from promptclimb.evaluators.images import UnreadableImage, open_rgb

logger = logging.getLogger(__name__)

# OpenAI's download URLs (github.com/openai/CLIP, clip/clip.py, _MODELS); the path segment before the file
# name is the file's sha256.
_BASE = "https://openaipublic.azureedge.net/clip/models"
CHECKPOINTS: dict[str, str] = {
    "RN50": f"{_BASE}/afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
    "RN101": f"{_BASE}/8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599/RN101.pt",
    "RN50x4": f"{_BASE}/7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd/RN50x4.pt",
    "RN50x16": f"{_BASE}/52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa/RN50x16.pt",
    "RN50x64": f"{_BASE}/be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c/RN50x64.pt",
    "ViT-B/32": f"{_BASE}/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
    "ViT-B/16": f"{_BASE}/5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
    "ViT-L/14": f"{_BASE}/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
    "ViT-L/14@336px": f"{_BASE}/3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/ViT-L-14-336px.pt",  # noqa: E501
}
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
# OpenAI's BPE vocabulary is the one of every Hugging Face CLIP tokenizer; this one is the usual download.
DEFAULT_TOKENIZER = "openai/clip-vit-base-patch32"
TOKENIZER_ENV = "PROMPTCLIMB_CLIP_TOKENIZER"
TEXT_RULES = "openai-clean-v2"  # in the feature cache key: bump when clean_text changes (v2: ftfy)
DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class OpenAISpec:
    model: str  # a CHECKPOINTS name or a path to a checkpoint file
    tokenizer: str | None = None  # a Hugging Face id or directory of a CLIP tokenizer

    @classmethod
    def parse(cls, target: str) -> OpenAISpec:
        """``RN50`` or ``RN50?tokenizer=DIR`` (the part after ``openai:``)."""
        model, _, options = target.partition("?")
        tokenizer = None
        for option in filter(None, options.split("&")):
            key, _, value = option.partition("=")
            if key != "tokenizer" or not value:
                raise ModelLoadError(f"unknown option '{option}' in openai:{target} (known: tokenizer=DIR)")
            tokenizer = value
        if not model:
            raise ModelLoadError(f"openai:{target} names no model (e.g. openai:RN50)")
        return cls(model, tokenizer)


# ------------------------------------------------------------------------------------------ files


def checkpoint_name(model: str) -> str | None:
    """The CHECKPOINTS key for ``RN50``, ``rn50``, ``ViT-B-16`` or ``ViT-B/16``; None for anything else."""
    wanted = model.lower().replace("/", "-")
    for name in CHECKPOINTS:
        if name.lower().replace("/", "-") == wanted:
            return name
    return None


def expected_sha256(name: str) -> str:
    return CHECKPOINTS[name].rsplit("/", 2)[-2]


def checkpoint_dirs() -> list[Path]:
    """Where named checkpoints are looked for, the first also where they are downloaded to."""
    from promptclimb.evaluators.classify.scorer import default_cache_dir

    return [default_cache_dir() / "openai-clip", Path.home() / ".cache" / "clip"]


def cached_checkpoint(name: str) -> Path | None:
    filename = CHECKPOINTS[name].rsplit("/", 1)[-1]
    return next((d / filename for d in checkpoint_dirs() if (d / filename).is_file()), None)


def file_sha256(path: Path) -> str:
    stat = path.stat()
    return _file_sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locate_checkpoint(model: str) -> tuple[Path, str]:
    """(file, sha256) of a named checkpoint (cached or downloaded, sha256 checked) or of a local file."""
    name = checkpoint_name(model)
    if name is None:
        path = Path(model).expanduser()
        if path.is_file():
            return path, file_sha256(path)
        known = ", ".join(CHECKPOINTS)
        raise ModelLoadError(f"unknown OpenAI CLIP model '{model}' (known: {known}; or a path to a .pt file)")
    path = cached_checkpoint(name)
    if path is None:
        return _download(name), expected_sha256(name)
    digest = file_sha256(path)
    if digest != expected_sha256(name):
        raise ModelLoadError(_mismatch(name, str(path), digest) + "; delete it to download it again")
    return path, digest


def _mismatch(name: str, source: str, digest: str) -> str:
    expected = expected_sha256(name)
    return f"{source} is not OpenAI's {name} (sha256 {digest[:12]}..., expected {expected[:12]}...)"


def _download(name: str) -> Path:
    """Stream OpenAI's file to a temporary name, hashing it; only a file with the right sha256 becomes
    the checkpoint (an interrupted or corrupted download leaves nothing behind)."""
    url = CHECKPOINTS[name]
    target = checkpoint_dirs()[0] / url.rsplit("/", 1)[-1]
    hint = f"download {url} into {target.parent}, or use openai:/path/to/{target.name}"
    logger.info("downloading OpenAI CLIP %s from %s", name, url)
    digest = hashlib.sha256()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".part", delete=False) as part:
            try:
                with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:  # noqa: S310 - our URLs
                    for block in iter(lambda: response.read(1 << 20), b""):
                        part.write(block)
                        digest.update(block)
            except BaseException:
                Path(part.name).unlink(missing_ok=True)
                raise
    except OSError as exc:
        raise ModelLoadError(f"cannot download OpenAI CLIP {name} ({first_line(exc)}); {hint}") from exc
    if digest.hexdigest() != expected_sha256(name):
        Path(part.name).unlink(missing_ok=True)
        raise ModelLoadError(_mismatch(name, f"the download from {url}", digest.hexdigest()))
    os.replace(part.name, target)
    return target


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """float32 tensors of a plain state dict (torch.save) or of OpenAI's TorchScript archive."""
    try:
        if _is_torchscript(path):
            with warnings.catch_warnings():  # torch.jit is deprecated, and the only reader of OpenAI's files
                warnings.simplefilter("ignore", DeprecationWarning)
                loaded: Any = torch.jit.load(str(path), map_location="cpu").state_dict()
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a file it cannot read
        raise ModelLoadError(f"cannot read CLIP checkpoint {path}: {first_line(exc)}") from exc
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise ModelLoadError(f"{path} holds no state dict of tensors")
    return {k: v.float() for k, v in loaded.items() if k not in NON_PARAMETER_KEYS}


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives are zip files with a constants.pkl (torch.save's zip files have none)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/constants.pkl") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


# ------------------------------------------------------------------------------------------ mapping


def text_config(config: OpenAIClipConfig) -> CLIPTextConfig:
    """transformers' twin of OpenAI's text tower. eos_token_id=2 is transformers' "legacy" rule that pools
    at the largest token id: OpenAI's rule (the first end-of-text token, id 49407, the largest)."""
    width = config.text_width
    return CLIPTextConfig(
        vocab_size=config.vocab_size,
        hidden_size=width,
        intermediate_size=4 * width,
        num_attention_heads=config.text_heads,
        num_hidden_layers=config.text_layers,
        max_position_embeddings=config.context_length,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
        projection_dim=config.embed_dim,
        bos_token_id=49406,
        eos_token_id=2,
        pad_token_id=1,
    )


def clip_config(config: OpenAIClipConfig) -> CLIPConfig:
    vision: dict[str, Any] = {}
    if not config.is_resnet:
        width = config.vision_width
        vision = {
            "hidden_size": width,
            "intermediate_size": 4 * width,
            "num_attention_heads": config.vision_heads,
            "num_hidden_layers": config.vision_layers[0],
            "image_size": config.image_resolution,
            "patch_size": config.vision_patch_size,
            "hidden_act": "quick_gelu",
            "layer_norm_eps": 1e-5,
        }
    combined = CLIPConfig(
        text_config=text_config(config).to_dict(), vision_config=vision, projection_dim=config.embed_dim
    )
    combined._attn_implementation = "sdpa"
    combined.text_config._attn_implementation = "sdpa"
    return combined


_BLOCK_NAMES = (("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"),
                ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2"))  # fmt: skip


def _tower_state(
    state: dict[str, torch.Tensor], source: str, target: str, layers: int
) -> dict[str, torch.Tensor]:
    """OpenAI's transformer blocks under ``source`` renamed to transformers' layers under ``target``."""
    mapped = {}
    for i in range(layers):
        old, new = f"{source}resblocks.{i}.", f"{target}encoder.layers.{i}."
        q, k, v = state[old + "attn.in_proj_weight"].chunk(3)
        qb, kb, vb = state[old + "attn.in_proj_bias"].chunk(3)
        for name, weight, bias in (("q_proj", q, qb), ("k_proj", k, kb), ("v_proj", v, vb)):
            mapped[f"{new}self_attn.{name}.weight"], mapped[f"{new}self_attn.{name}.bias"] = weight, bias
        for ours, theirs in _BLOCK_NAMES:
            for part in ("weight", "bias"):
                mapped[f"{new}{theirs}.{part}"] = state[f"{old}{ours}.{part}"]
    return mapped


def hf_text_state(state: dict[str, torch.Tensor], config: OpenAIClipConfig) -> dict[str, torch.Tensor]:
    mapped = _tower_state(state, "transformer.", "text_model.", config.text_layers)
    mapped["text_model.embeddings.token_embedding.weight"] = state["token_embedding.weight"]
    mapped["text_model.embeddings.position_embedding.weight"] = state["positional_embedding"]
    mapped["text_model.final_layer_norm.weight"] = state["ln_final.weight"]
    mapped["text_model.final_layer_norm.bias"] = state["ln_final.bias"]
    mapped["text_projection.weight"] = state["text_projection"].t().contiguous()
    return mapped


def hf_vision_state(state: dict[str, torch.Tensor], config: OpenAIClipConfig) -> dict[str, torch.Tensor]:
    mapped = _tower_state(state, "visual.transformer.", "vision_model.", config.vision_layers[0])
    embeddings = "vision_model.embeddings."
    mapped[embeddings + "patch_embedding.weight"] = state["visual.conv1.weight"]
    mapped[embeddings + "class_embedding"] = state["visual.class_embedding"]
    mapped[embeddings + "position_embedding.weight"] = state["visual.positional_embedding"]
    for ours, theirs in (("ln_pre", "pre_layrnorm"), ("ln_post", "post_layernorm")):
        for part in ("weight", "bias"):
            mapped[f"vision_model.{theirs}.{part}"] = state[f"visual.{ours}.{part}"]
    mapped["visual_projection.weight"] = state["visual.proj"].t().contiguous()
    return mapped


class ResNetClip(nn.Module):
    """transformers' text tower next to OpenAI's ResNet image tower, shaped like the CLIPModel that
    ClipBackbone drives (``text_model``, ``text_projection``, ``config``, ``get_image_features``)."""

    def __init__(self, text: CLIPTextModelWithProjection, visual: ModifiedResNet, config: CLIPConfig) -> None:
        super().__init__()
        self.config = config
        self.text_model = text.text_model
        self.text_projection = text.text_projection
        self.visual = visual
        self.trunk_autocast: torch.dtype | None = None  # bf16 on CPU: the convolutions under autocast
        self.channels_last = False

    def use_cpu_kernels(self, bf16: bool) -> None:
        """oneDNN's convolutions prefer channels-last tensors (~1.5-2x here), and bf16 under autocast."""
        self.channels_last = True
        self.visual.to(memory_format=torch.channels_last)
        self.trunk_autocast = torch.bfloat16 if bf16 else None

    def get_image_features(self, pixel_values: torch.Tensor) -> BaseModelOutputWithPooling:
        if self.channels_last:
            pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
        dtype = self.trunk_autocast
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            trunk = self.visual.trunk(pixel_values)
        features = self.visual.attnpool(trunk.to(self.visual.attnpool.positional_embedding.dtype))
        return BaseModelOutputWithPooling(pooler_output=features)


def build_model(state: dict[str, torch.Tensor], config: OpenAIClipConfig) -> CLIPModel | ResNetClip:
    """The scoring model of a state dict, which must hold exactly the tensors of its architecture."""
    check_tensor_names(state, config)
    combined = clip_config(config)
    try:
        if not config.is_resnet:
            model = CLIPModel(combined)
            mapped = {**hf_text_state(state, config), **hf_vision_state(state, config)}
            mapped["logit_scale"] = state["logit_scale"].reshape(())
            model.load_state_dict(mapped, strict=True)
            return model.eval()
        text = CLIPTextModelWithProjection(combined.text_config)
        text.load_state_dict(hf_text_state(state, config), strict=True)
        visual = ModifiedResNet(config)
        visual_state = {k[len("visual.") :]: v for k, v in state.items() if k.startswith("visual.")}
        visual.load_state_dict({**_bn_counters(visual), **visual_state}, strict=True)
        return ResNetClip(text, visual, combined).eval()
    except (KeyError, RuntimeError) as exc:
        raise ModelLoadError(
            f"not an OpenAI CLIP checkpoint of this architecture: {first_line(exc)}"
        ) from exc


def check_tensor_names(state: dict[str, torch.Tensor], config: OpenAIClipConfig) -> None:
    """Every tensor of the architecture present, and nothing else (BatchNorm's counters aside)."""
    with torch.device("meta"):  # names and shapes only: no memory, no initialisation
        expected = {k: v.shape for k, v in OpenAIClip(config).state_dict().items()}
    counters = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(state) - counters)
    unknown = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) - counters if state[k].shape != expected[k])
    for problem, keys in (("lacks", missing), ("has unknown tensors", unknown), ("has mis-shaped", wrong)):
        if keys:
            more = f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""
            raise ModelLoadError(f"not an OpenAI CLIP checkpoint: it {problem} {keys[0]!r}{more}")


def _bn_counters(module: nn.Module) -> dict[str, torch.Tensor]:
    """BatchNorm's num_batches_tracked is bookkeeping: filled in where a checkpoint lacks it."""
    return {k: v for k, v in module.state_dict().items() if k.endswith("num_batches_tracked")}


# ------------------------------------------------------------------------------------------ backbone


def preprocess(image: Image.Image, size: int) -> np.ndarray:
    """OpenAI's clip.load transform with PIL and numpy: [3, size, size] float32."""
    width, height = image.size
    # torchvision's Resize(int): the shorter side becomes `size`, the longer one is truncated, not rounded.
    new = (size, int(size * height / width)) if width <= height else (int(size * width / height), size)
    if new != (width, height):
        image = image.resize(new, Image.Resampling.BICUBIC)
    left, top = int(round((new[0] - size) / 2.0)), int(round((new[1] - size) / 2.0))
    image = image.crop((left, top, left + size, top + size)).convert("RGB")
    array = np.asarray(image, dtype=np.float32) / 255.0
    return ((array - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1).copy()


def clean_text(text: str) -> str:
    """OpenAI's tokenizer cleanup before BPE (lowercasing and special tokens are the tokenizer's): ftfy's
    repair of mojibake, curly quotes and ligatures, HTML unescaped twice, whitespace collapsed."""
    return re.sub(r"\s+", " ", html.unescape(html.unescape(ftfy.fix_text(text))).strip()).strip()


class OpenAIClipBackbone(ClipBackbone):
    """ClipBackbone with OpenAI's image preprocessing and text cleanup."""

    def __init__(self, model: CLIPModel | ResNetClip, tokenizer: CLIPTokenizerFast, *, image_size: int,
                 **kwargs: Any) -> None:  # fmt: skip
        if isinstance(model, ResNetClip) and kwargs["device"].startswith("cpu"):
            model.use_cpu_kernels(bf16=kwargs["precision"] == "bf16")
        super().__init__(model, tokenizer, None, **kwargs)  # type: ignore[arg-type]
        self.image_size = image_size

    def __repr__(self) -> str:
        return f"OpenAIClipBackbone({self.identity!r}, device={self.device!r})"

    def _pixels(self, path: str) -> np.ndarray | None:
        try:
            return preprocess(open_rgb(path), self.image_size)
        except (UnreadableImage, OSError, ValueError) as exc:
            logger.warning("skipping unreadable image: %s", first_line(exc))
            return None

    def _tokenize(self, prompts: list[str]) -> list[_Prompt]:
        return super()._tokenize([clean_text(p) for p in prompts])


@functools.lru_cache(maxsize=4)
def _tokenizer_cached(source: str, stamp: tuple) -> CLIPTokenizerFast:
    offline = Path(source).is_dir() or hub_offline()
    attempts = [True] if offline else [True, False]  # the hub's cache first, then the network
    last: Exception | None = None
    for local_only in attempts:
        try:
            return CLIPTokenizerFast.from_pretrained(source, local_files_only=local_only)
        except Exception as exc:  # noqa: BLE001 - hub errors come in many types; all mean "cannot load"
            last = exc
    raise ModelLoadError(
        f"cannot load the CLIP tokenizer '{source}' ({first_line(last)}); give a local one: "
        f"openai:RN50?tokenizer=DIR or ${TOKENIZER_ENV}=DIR (e.g. ../shared/assets/clip-vit-base-patch32)"
    )


def load_tokenizer(source: str | None) -> CLIPTokenizerFast:
    source = source or os.environ.get(TOKENIZER_ENV, "").strip() or DEFAULT_TOKENIZER
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
        return _tokenizer_cached(str(path.resolve()), tuple((p.name, p.stat().st_mtime_ns) for p in files))
    return _tokenizer_cached(source, ())


def _backbone(
    state: dict[str, torch.Tensor], name: str, weights: str, spec: OpenAISpec, device: str | None,
    precision: str, share_prefix: bool,
) -> OpenAIClipBackbone:  # fmt: skip
    try:
        config = OpenAIClipConfig.from_state_dict(state)
    except ArchitectureError as exc:
        raise ModelLoadError(str(exc)) from exc
    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    tokenizer = load_tokenizer(spec.tokenizer)
    model = build_model(state, config)
    identity = "|".join(
        [
            f"openai:{name}",
            "arch=" + sha16(repr(config.as_dict())),
            "tokenizer=" + sha16(tokenizer.backend_tokenizer.to_str()),
            f"text={TEXT_RULES}",
            f"preprocess=openai-bicubic-{config.image_resolution}",
            "weights=" + weights,
            precision_label(precision, device),
        ]
    )
    return OpenAIClipBackbone(
        model, tokenizer, image_size=config.image_resolution, identity=identity,
        random_weights=weights.startswith("random-init"), device=device, precision=precision,
        share_prefix=share_prefix,
    )  # fmt: skip


def load_openai_clip(
    target: str, *, device: str | None = None, precision: str = "auto", share_prefix: bool = True
) -> OpenAIClipBackbone:
    """The backbone of ``openai:<target>``: a checkpoint name (downloaded once) or a checkpoint file."""
    spec = OpenAISpec.parse(target)
    path, digest = locate_checkpoint(spec.model)
    # A local copy of one of OpenAI's files gets that file's name: the same features, the same cache rows.
    name = next((n for n in CHECKPOINTS if expected_sha256(n) == digest), None) or path.stem
    return _backbone(read_state_dict(path), name, digest[:16], spec, device, precision, share_prefix)


def random_openai_clip(
    architecture: str | OpenAIClipConfig, *, tokenizer: str | None = None, device: str | None = None,
    precision: str = "auto", seed: int = RANDOM_INIT_SEED,
) -> OpenAIClipBackbone:  # fmt: skip
    """An OpenAI architecture (a PRESETS name or a config) with seeded random weights, for speed and
    plumbing tests: its accuracies are meaningless."""
    config = PRESETS[architecture] if isinstance(architecture, str) else architecture
    name = architecture if isinstance(architecture, str) else f"custom-{sha16(repr(config.as_dict()))[:8]}"
    logger.warning("RANDOM WEIGHTS: OpenAI CLIP %s (seed %d); ACCURACIES ARE MEANINGLESS", name, seed)
    state = random_state_dict(config, seed)
    return _backbone(
        state, name, f"random-init-seed{seed}", OpenAISpec(name, tokenizer), device, precision, True
    )


def available() -> list[dict[str, Any]]:
    """One row per OpenAI checkpoint for ``promptclimb models``: spec, whether a file is cached, where."""
    rows = []
    for name in CHECKPOINTS:
        path = cached_checkpoint(name)
        spec = f"openai:{name}"
        rows.append({"name": name, "spec": spec, "cached": path is not None, "path": str(path or "")})
    return rows
