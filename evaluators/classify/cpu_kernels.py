"""CPU kernels for inference: every Linear through oneDNN with its bias (and the MLP activation) fused, in
fp32 or mixed bf16, checked against F.linear once per process; and the cosine matrix on the same kernel.

Speed notes in clip.py's docstring; numbers in bench/RESULTS.md.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# Fused post-op of oneDNN and the input scale that turns the MLP activation into it:
# quick_gelu(y) = y * sigmoid(1.702 y) = swish(1.702 y) / 1.702, so fc1 is scaled by 1.702 and fc2 by 1/1.702.
_FUSED_ACTIVATIONS = {"quick_gelu": ("swish", 1.702, ""), "gelu": ("gelu", 1.0, "none")}


class CpuLinear(nn.Module):
    """A Linear for CPU inference in fp32 or bf16, through oneDNN with the bias (and optionally the MLP
    activation) fused into the matmul.

    bf16 is the autocast recipe with weights cast once: inputs are rounded to bf16, products accumulate in
    fp32, the output is bf16; adding it to the fp32 residual promotes back to fp32, so the residual stream,
    LayerNorms and softmax stay fp32. On this project's CPUs oneDNN's fp32 matmul is also ~2x faster than
    the MKL path that F.linear takes, and the fused bias saves a pass over the output.
    """

    def __init__(
        self, weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype, post_op: str = "none",
        algorithm: str = "",
    ) -> None:  # fmt: skip
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.weight = nn.Parameter(weight.detach().to(dtype).contiguous(), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias.detach().to(dtype), requires_grad=False)
        self.post_op, self.algorithm = post_op, algorithm

    @classmethod
    def of(cls, linear: nn.Linear, dtype: torch.dtype) -> CpuLinear:
        return cls(linear.weight, linear.bias, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.weight.dtype)
        if onednn_linear_works():
            return torch.ops.mkldnn._linear_pointwise(
                x, self.weight, self.bias, self.post_op, [], self.algorithm
            )
        y = F.linear(x, self.weight, self.bias)
        if self.post_op == "swish":
            return F.silu(y)
        return F.gelu(y, approximate="none") if self.post_op == "gelu" else y


class _FusedMlp(nn.Module):
    """CLIPMLP as two oneDNN matmuls, the activation fused into the first (no pass over [tokens, 4d])."""

    def __init__(self, fc1: nn.Linear, fc2: nn.Linear, activation: str, dtype: torch.dtype) -> None:
        super().__init__()
        post_op, scale, algorithm = _FUSED_ACTIVATIONS[activation]
        bias1 = None if fc1.bias is None else fc1.bias * scale
        self.fc1 = CpuLinear(fc1.weight * scale, bias1, dtype, post_op, algorithm)
        self.fc2 = CpuLinear(fc2.weight / scale, fc2.bias, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(x))


_ONEDNN_STATE: list[bool] = []


def onednn_linear_works() -> bool:
    """Whether torch.ops.mkldnn._linear_pointwise (the op torch.compile uses on CPU) exists and agrees
    with F.linear here; checked once per process, else every CpuLinear falls back to F.linear."""
    if not _ONEDNN_STATE:
        _ONEDNN_STATE.append(_check_onednn_linear())
    return _ONEDNN_STATE[0]


def _check_onednn_linear() -> bool:
    try:
        generator = torch.Generator().manual_seed(0)
        x, w, b = (torch.randn(shape, generator=generator) for shape in ((3, 5, 16), (8, 16), (8,)))
        expected = F.silu(F.linear(x, w, b))
        for dtype, tolerance in ((torch.float32, 1e-4), (torch.bfloat16, 0.1)):
            got = torch.ops.mkldnn._linear_pointwise(x.to(dtype), w.to(dtype), b.to(dtype), "swish", [], "")
            if got.shape != expected.shape or not torch.allclose(got.float(), expected, atol=tolerance):
                return False
        return True
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


def cosine_matrix(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """rows @ columns.T in float32 (cosines of unit vectors), through oneDNN where it works: 2x faster than
    numpy's BLAS here, which matters for a cache hit (1,000 x 1,000 x 512 is most of its time)."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    columns = np.ascontiguousarray(columns, dtype=np.float32)
    if rows.size == 0 or columns.size == 0 or not onednn_linear_works():
        return rows @ columns.T
    with torch.inference_mode():
        product = torch.ops.mkldnn._linear_pointwise(
            torch.from_numpy(rows), torch.from_numpy(columns), None, "none", [], ""
        )
    return product.numpy()


def to_cpu_kernels(module: nn.Module, dtype: torch.dtype) -> None:
    """Swap every Linear for a CpuLinear and every CLIP MLP with a fusable activation for a _FusedMlp."""
    for name, child in module.named_children():
        activation = getattr(getattr(child, "config", None), "hidden_act", None)
        if isinstance(child, nn.Linear):
            setattr(module, name, CpuLinear.of(child, dtype))
        elif hasattr(child, "fc1") and hasattr(child, "fc2") and activation in _FUSED_ACTIVATIONS:
            setattr(module, name, _FusedMlp(child.fc1, child.fc2, activation, dtype))
        else:
            to_cpu_kernels(child, dtype)
