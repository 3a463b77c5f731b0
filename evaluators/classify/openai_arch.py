"""OpenAI's original CLIP architectures in plain torch, under the parameter names of OpenAI's checkpoints.

Two vision towers (a ResNet with attention pooling for the RN models, a ViT for the others) and one text
transformer. The shapes come from a checkpoint's state dict (``OpenAIClipConfig.from_state_dict``) or a
preset (``PRESETS``, for random-weight tests). ``OpenAIClip`` is the plain reference forward: the ResNet
tower is what the ``openai:`` scorer runs for RN models; the text tower and the ViT tower are mapped into
transformers' CLIP modules instead (evaluators/classify/openai_clip.py), where promptclimb's fast paths
apply, and tests check that mapping against this reference.

Written from the published architecture (Radford et al., 2021, "Learning Transferable Visual Models From
Natural Language Supervision"): pre-LayerNorm transformers with QuickGELU, causal text attention pooled at
the end-of-text token, and a ResNet-D-like trunk (3-conv stem, anti-aliased strides by average pooling)
ending in one attention layer whose query is the mean of the spatial features.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

# Entries of OpenAI's TorchScript archives that are not parameters.
NON_PARAMETER_KEYS = ("input_resolution", "context_length", "vocab_size")


class ArchitectureError(ValueError):
    """A state dict that is not an OpenAI CLIP checkpoint; the message says what is missing."""


@dataclass(frozen=True)
class OpenAIClipConfig:
    embed_dim: int
    image_resolution: int
    vision_layers: tuple[int, ...]  # blocks per ResNet stage, or (transformer layers,) for a ViT
    vision_width: int
    vision_patch_size: int | None  # None: a ResNet
    context_length: int = 77
    vocab_size: int = 49408
    text_width: int = 512
    text_heads: int = 8
    text_layers: int = 12

    @property
    def is_resnet(self) -> bool:
        return self.vision_patch_size is None

    @property
    def vision_heads(self) -> int:
        # The attention pool of a ResNet works at 32 x width channels (the last stage's output).
        return self.vision_width * 32 // 64 if self.is_resnet else self.vision_width // 64

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> OpenAIClipConfig:
        """The architecture of a checkpoint, read off its tensors' shapes."""
        try:
            text_width = state["ln_final.weight"].shape[0]
            common = {
                "embed_dim": state["text_projection"].shape[1],
                "context_length": state["positional_embedding"].shape[0],
                "vocab_size": state["token_embedding.weight"].shape[0],
                "text_width": text_width,
                "text_heads": text_width // 64,
                "text_layers": _count_blocks(state, "transformer.resblocks."),
            }
            if "visual.proj" in state:
                return cls(**common, **_vit_shapes(state))
            return cls(**common, **_resnet_shapes(state))
        except KeyError as exc:
            raise ArchitectureError(f"not an OpenAI CLIP state dict: no tensor {exc.args[0]!r}") from exc


def _count_blocks(state: dict[str, torch.Tensor], prefix: str) -> int:
    return len({key[len(prefix) :].split(".")[0] for key in state if key.startswith(prefix)})


def _vit_shapes(state: dict[str, torch.Tensor]) -> dict:
    patch = state["visual.conv1.weight"].shape[-1]
    grid = round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    return {
        "image_resolution": patch * grid,
        "vision_layers": (_count_blocks(state, "visual.transformer.resblocks."),),
        "vision_width": state["visual.conv1.weight"].shape[0],
        "vision_patch_size": patch,
    }


def _resnet_shapes(state: dict[str, torch.Tensor]) -> dict:
    stages = tuple(_count_blocks(state, f"visual.layer{stage}.") for stage in (1, 2, 3, 4))
    grid = round((state["visual.attnpool.positional_embedding"].shape[0] - 1) ** 0.5)
    return {
        "image_resolution": grid * 32,  # the trunk downsamples by 32
        "vision_layers": stages,
        "vision_width": state["visual.layer1.0.conv1.weight"].shape[0],
        "vision_patch_size": None,
    }


# The published architectures (for random-weight tests and `random_openai_clip`; real loads read shapes).
PRESETS: dict[str, OpenAIClipConfig] = {
    "RN50": OpenAIClipConfig(1024, 224, (3, 4, 6, 3), 64, None),
    "RN101": OpenAIClipConfig(512, 224, (3, 4, 23, 3), 64, None),
    "ViT-B/32": OpenAIClipConfig(512, 224, (12,), 768, 32),
    "ViT-B/16": OpenAIClipConfig(512, 224, (12,), 768, 16),
    "ViT-L/14": OpenAIClipConfig(768, 224, (24,), 1024, 14, text_width=768, text_heads=12),
}


# ------------------------------------------------------------------------------------------ blocks


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)


class SelfAttention(nn.Module):
    """Multi-head self-attention with one packed input projection (``in_proj_weight``), batch first."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        batch, length, width = x.shape
        packed = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = (t.view(batch, length, self.heads, -1).transpose(1, 2) for t in packed.chunk(3, dim=-1))
        scores = q @ k.transpose(-1, -2) / math.sqrt(width // self.heads)
        if mask is not None:
            scores = scores + mask
        mixed = scores.softmax(dim=-1) @ v
        return self.out_proj(mixed.transpose(1, 2).reshape(batch, length, width))


class Mlp(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(width, 4 * width)
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(quick_gelu(self.c_fc(x)))


class ResidualBlock(nn.Module):
    """Pre-LayerNorm transformer block."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = SelfAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = Mlp(width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(ResidualBlock(width, heads) for _ in range(layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, mask)
        return x


# ------------------------------------------------------------------------------------------ vision


class VisionTransformer(nn.Module):
    def __init__(self, config: OpenAIClipConfig) -> None:
        super().__init__()
        width, patch = config.vision_width, int(config.vision_patch_size or 0)
        tokens = (config.image_resolution // patch) ** 2 + 1
        self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width) * width**-0.5)
        self.positional_embedding = nn.Parameter(torch.randn(tokens, width) * width**-0.5)
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, config.vision_layers[0], config.vision_heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, config.embed_dim) * width**-0.5)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        patches = self.conv1(pixels).flatten(2).transpose(1, 2)  # [B, grid^2, width]
        cls = self.class_embedding.to(patches.dtype).expand(patches.shape[0], 1, -1)
        x = torch.cat([cls, patches], dim=1) + self.positional_embedding.to(patches.dtype)
        x = self.transformer(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.proj


def _conv_bn(
    channels_in: int, channels_out: int, kernel: int, stride: int = 1
) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    conv = nn.Conv2d(channels_in, channels_out, kernel, stride=stride, padding=kernel // 2, bias=False)
    return conv, nn.BatchNorm2d(channels_out)


class Downsample(nn.Module):
    """The shortcut of a block that changes shape: average pooling, then a 1x1 conv and BatchNorm
    (parameters named ``0`` and ``1`` as in OpenAI's checkpoints)."""

    def __init__(self, channels_in: int, channels_out: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        conv, norm = _conv_bn(channels_in, channels_out, 1)
        self.add_module("0", conv)
        self.add_module("1", norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = F.avg_pool2d(x, self.stride)
        return self.get_submodule("1")(self.get_submodule("0")(x))


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> (average pool when striding) -> 1x1 x4, with a residual connection."""

    def __init__(self, channels_in: int, planes: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.conv1, self.bn1 = _conv_bn(channels_in, planes, 1)
        self.conv2, self.bn2 = _conv_bn(planes, planes, 3)
        self.conv3, self.bn3 = _conv_bn(planes, planes * 4, 1)
        changes_shape = stride > 1 or channels_in != planes * 4
        self.downsample = Downsample(channels_in, planes * 4, stride) if changes_shape else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        if self.stride > 1:
            out = F.avg_pool2d(out, self.stride)
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


class AttentionPool(nn.Module):
    """One attention layer over the final feature map whose only query is the mean feature."""

    def __init__(self, grid: int, width: int, heads: int, output_dim: int) -> None:
        super().__init__()
        self.heads = heads
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, width) / width**0.5)
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.c_proj = nn.Linear(width, output_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = features.flatten(2).transpose(1, 2)  # [B, H*W, C]
        x = torch.cat([x.mean(dim=1, keepdim=True), x], dim=1) + self.positional_embedding.to(x.dtype)
        batch, tokens, width = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:  # the projections may hand back bf16 (CPU kernels)
            return t.float().view(batch, -1, self.heads, width // self.heads).transpose(1, 2)

        q, k, v = heads(self.q_proj(x[:, :1])), heads(self.k_proj(x)), heads(self.v_proj(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(width // self.heads)
        mixed = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, width)
        return self.c_proj(mixed.to(x.dtype))


class ModifiedResNet(nn.Module):
    def __init__(self, config: OpenAIClipConfig) -> None:
        super().__init__()
        width = config.vision_width
        self.conv1, self.bn1 = _conv_bn(3, width // 2, 3, stride=2)
        self.conv2, self.bn2 = _conv_bn(width // 2, width // 2, 3)
        self.conv3, self.bn3 = _conv_bn(width // 2, width, 3)
        channels = width
        for stage, blocks in enumerate(config.vision_layers):
            planes, stride = width * 2**stage, 1 if stage == 0 else 2
            layer = []
            for index in range(blocks):
                layer.append(Bottleneck(channels, planes, stride if index == 0 else 1))
                channels = planes * 4
            self.add_module(f"layer{stage + 1}", nn.Sequential(*layer))
        self.stages = len(config.vision_layers)
        grid = config.image_resolution // 32
        self.attnpool = AttentionPool(grid, channels, config.vision_heads, config.embed_dim)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.attnpool(self.trunk(pixels))

    def trunk(self, pixels: torch.Tensor) -> torch.Tensor:
        """Stem and the four stages: the feature map the attention pool reads."""
        x = F.relu(self.bn1(self.conv1(pixels)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.avg_pool2d(F.relu(self.bn3(self.conv3(x))), 2)
        for stage in range(1, self.stages + 1):
            x = self.get_submodule(f"layer{stage}")(x)
        return x


# ------------------------------------------------------------------------------------------ the model


class OpenAIClip(nn.Module):
    """Both towers; ``encode_text`` takes ids padded with 0 to the context length, as OpenAI's tokenizer
    gives them, and pools the end-of-text token (the largest id) of each row."""

    def __init__(self, config: OpenAIClipConfig) -> None:
        super().__init__()
        self.config = config
        self.visual = ModifiedResNet(config) if config.is_resnet else VisionTransformer(config)
        width = config.text_width
        self.token_embedding = nn.Embedding(config.vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.randn(config.context_length, width) * 0.01)
        self.transformer = Transformer(width, config.text_layers, config.text_heads)
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.randn(width, config.embed_dim) * width**-0.5)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        nn.init.normal_(self.token_embedding.weight, std=0.02)

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.visual(pixels)

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        length = ids.shape[1]
        x = self.token_embedding(ids) + self.positional_embedding[:length]
        future = torch.full((length, length), float("-inf"), device=ids.device).triu(1)
        x = self.ln_final(self.transformer(x, future.to(x.dtype)))
        pooled = x[torch.arange(ids.shape[0], device=ids.device), ids.argmax(dim=-1)]
        return pooled @ self.text_projection


def random_state_dict(config: OpenAIClipConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded random weights under OpenAI's names, without touching the caller's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return OpenAIClip(config).state_dict()
