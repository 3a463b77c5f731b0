"""Tiny SigLIP and SigLIP 2 (FixRes, NaFlex) model directories, built here: no SigLIP tokenizer is here.

``make_tiny_siglip_dir(path, flavor)`` writes what a hub checkpoint directory holds, minus the weights:

- ``siglip``: a sentencepiece unigram model trained here on a few sentences (ids as in SigLIP's T5 vocabulary:
  pad 0, ``</s>`` 1, ``<unk>`` 2), saved by the real SiglipTokenizer with the hub's ``model_input_names:
  ["input_ids"]``;
- ``siglip2``: a Gemma BPE tokenizer (``<pad>`` 0, ``<eos>`` 1, ``<bos>`` 2) over characters and a few merges,
  saved by the real GemmaTokenizer, as the hub's SigLIP 2 FixRes checkpoints ship one;

plus a 2-layer SiglipConfig (hidden 32, 32x32 images in 8x8 patches, 64 text positions) and the hub's 224x224
preprocessor config, which load_siglip resizes to the model's 32; or, for ``siglip2-naflex``, a Siglip2Config
(model_type siglip2) reading at most 16 patches of 8x8 pixels, the Gemma tokenizer and a NaFlex preprocessor.
``load_siglip(dir)`` gives it seeded random weights; ``pristine_siglip(dir)`` is the same model, untouched.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

CORPUS = ["a photo of a cat", "a photo of a dog", "a blurry photo of the shoes", "itap of my hat",
          "a dress and a skirt", "pants longsleeve outwear shirt shorts", "the quick brown fox jumps",
          "a bad photo of a big hat", "a close-up photo of the pants"]  # fmt: skip
PREPROCESSOR = {  # google/siglip-base-patch16-224's preprocessor_config.json
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_processor_type": "SiglipImageProcessor",
    "image_std": [0.5, 0.5, 0.5],
    "processor_class": "SiglipProcessor",
    "resample": 3,
    "rescale_factor": 0.00392156862745098,
    "size": {"height": 224, "width": 224},
}
NAFLEX_PREPROCESSOR = {  # google/siglip2-base-patch16-naflex's settings, at 8x8 patches and 16 at most
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_processor_type": "Siglip2ImageProcessor",
    "image_std": [0.5, 0.5, 0.5],
    "max_num_patches": 16,
    "patch_size": 8,
    "processor_class": "Siglip2Processor",
    "resample": 2,
    "rescale_factor": 0.00392156862745098,
}
GEMMA_SPECIALS = ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>")
GEMMA_MERGES = [("▁", "a"), ("▁", "p"), ("h", "o"), ("▁p", "ho"), ("t", "o"), ("▁pho", "to"), ("▁", "o"),
                ("▁o", "f"), ("▁", "c"), ("a", "t")]  # fmt: skip


def write_siglip_tokenizer(path: Path) -> int:
    """A SiglipTokenizer over a sentencepiece model trained on CORPUS; returns its vocabulary size."""
    import sentencepiece as spm
    from transformers import SiglipTokenizer

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 20), model_writer=model, vocab_size=60, model_type="unigram",
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, character_coverage=1.0, hard_vocab_limit=False,
        num_threads=1, minloglevel=2,
    )  # fmt: skip
    (path / "spiece.model").write_bytes(model.getvalue())
    tokenizer = SiglipTokenizer(vocab_file=str(path / "spiece.model"), model_input_names=["input_ids"])
    tokenizer.save_pretrained(path)
    return len(tokenizer)


def write_gemma_tokenizer(path: Path) -> int:
    """A GemmaTokenizer (byte-fallback BPE) over letters, digits, punctuation and a few merges."""
    from transformers import GemmaTokenizer

    vocab = {token: i for i, token in enumerate(GEMMA_SPECIALS)}
    for char in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789▁.,!?-'":
        vocab.setdefault(char, len(vocab))
    for left, right in GEMMA_MERGES:
        vocab.setdefault(left + right, len(vocab))
    tokenizer = GemmaTokenizer(vocab=vocab, merges=GEMMA_MERGES)
    tokenizer.save_pretrained(path)
    return len(tokenizer)


def tiny_siglip_config(vocab_size: int, *, pad_token_id: int, naflex: bool = False):
    """SiglipConfig (FixRes), or Siglip2Config with 16 patches of 8x8 pixels at most (NaFlex)."""
    from transformers import Siglip2Config, SiglipConfig

    common = {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2}
    text = {**common, "vocab_size": vocab_size, "max_position_embeddings": 64, "projection_size": 32,
            "pad_token_id": pad_token_id, "bos_token_id": None, "eos_token_id": 1}  # fmt: skip
    if naflex:
        return Siglip2Config(text_config=text, vision_config={**common, "num_patches": 16, "patch_size": 8})
    return SiglipConfig(text_config=text, vision_config={**common, "image_size": 32, "patch_size": 8})


def make_tiny_siglip_dir(path: Path, flavor: str = "siglip") -> Path:
    """Write the config-only tiny directory of a flavor: "siglip", "siglip2" (FixRes) or "siglip2-naflex"."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if flavor == "siglip":
        vocab_size, pad = write_siglip_tokenizer(path), 1  # SigLIP pads with </s>
    elif flavor in ("siglip2", "siglip2-naflex"):
        vocab_size, pad = write_gemma_tokenizer(path), 0
    else:
        raise ValueError(f"unknown flavor {flavor}")
    naflex = flavor == "siglip2-naflex"
    tiny_siglip_config(vocab_size, pad_token_id=pad, naflex=naflex).save_pretrained(path)
    preprocessor = NAFLEX_PREPROCESSOR if naflex else PREPROCESSOR
    (path / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2))
    return path


def pristine_siglip(directory: Path, seed: int = 0):
    """The untouched transformers SiglipModel / Siglip2Model with the seeded random weights that load_siglip
    gives (seed 0)."""
    import torch
    from transformers import Siglip2Config, Siglip2Model, SiglipConfig, SiglipModel

    naflex = json.loads((Path(directory) / "config.json").read_text())["model_type"] == "siglip2"
    config_class, model_class = (Siglip2Config, Siglip2Model) if naflex else (SiglipConfig, SiglipModel)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return model_class(config_class.from_pretrained(directory)).eval()


def reference_pixels(directory: Path, images: list) -> dict:
    """transformers' own image processor of the flavor, built from scratch at the tiny model's size."""
    from transformers import Siglip2ImageProcessorPil, SiglipImageProcessorPil

    if json.loads((Path(directory) / "config.json").read_text())["model_type"] == "siglip2":
        processor = Siglip2ImageProcessorPil(patch_size=8, max_num_patches=16)
    else:
        processor = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    return dict(processor(images=images, return_tensors="pt"))
