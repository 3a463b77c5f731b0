"""Tiny OpenAI CLIP architectures and checkpoint files for tests/test_openai_clip.py.

``save_torchscript`` writes what OpenAI publishes: a TorchScript archive (torch.jit.save) whose state dict
holds the weights in fp16 under OpenAI's names, plus the non-parameter entries ``input_resolution``,
``context_length`` and ``vocab_size``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from promptclimb.evaluators.classify.openai_arch import OpenAIClip, OpenAIClipConfig, random_state_dict
from promptclimb.evaluators.classify.openai_clip import preprocess
from promptclimb.evaluators.images import open_rgb

# Two ResNet stages of two blocks (a striding block and a plain one), 4 heads in the attention pool.
TINY_RN = OpenAIClipConfig(16, 64, (2, 1, 2, 1), 8, None, text_width=128, text_heads=2, text_layers=2)
TINY_VIT = OpenAIClipConfig(16, 32, (2,), 128, 16, text_width=128, text_heads=2, text_layers=2)


def reference_model(state: dict[str, torch.Tensor], config: OpenAIClipConfig) -> OpenAIClip:
    """The plain torch forward of openai_arch.py with these weights, in fp32."""
    model = OpenAIClip(config)
    model.load_state_dict({k: v.float() for k, v in state.items() if k in model.state_dict()})
    return model.eval()


def seeded_reference(config: OpenAIClipConfig, seed: int = 0) -> OpenAIClip:
    """The reference model with the weights random_openai_clip(config, seed=seed) gets (one initialisation,
    not two: the RN50 test builds ~100M parameters)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return OpenAIClip(config).eval()


def reference_texts(model: OpenAIClip, ids: list[list[int]]) -> np.ndarray:
    """OpenAI's text path: ids padded with 0 to the context length, pooled at the largest id."""
    batch = torch.zeros(len(ids), model.config.context_length, dtype=torch.long)
    for row, tokens in enumerate(ids):
        batch[row, : len(tokens)] = torch.tensor(tokens)
    with torch.inference_mode():
        return torch.nn.functional.normalize(model.encode_text(batch), dim=-1).numpy()


def reference_images(model: OpenAIClip, paths: list[Path]) -> np.ndarray:
    size = model.config.image_resolution
    pixels = torch.from_numpy(np.stack([preprocess(open_rgb(str(p)), size) for p in paths]))
    with torch.inference_mode():
        return torch.nn.functional.normalize(model.encode_image(pixels), dim=-1).numpy()


def _tree(state: dict[str, torch.Tensor]) -> nn.Module:
    """A module whose state dict is exactly `state` (dotted names become nested modules)."""
    root = nn.Module()
    for name, tensor in state.items():
        *path, leaf = name.split(".")
        module = root
        for part in path:
            if not hasattr(module, part):
                module.add_module(part, nn.Module())
            module = getattr(module, part)
        module.register_buffer(leaf, tensor.clone())
    return root


def save_torchscript(state: dict[str, torch.Tensor], config: OpenAIClipConfig, path: Path) -> Path:
    extras = {
        "input_resolution": torch.tensor(config.image_resolution),
        "context_length": torch.tensor(config.context_length),
        "vocab_size": torch.tensor(config.vocab_size),
    }
    weights = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    torch.jit.save(torch.jit.script(_tree({**weights, **extras})), str(path))
    return path


def tiny_state(config: OpenAIClipConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    return random_state_dict(config, seed)
