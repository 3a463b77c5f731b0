"""Pick the scorer's model and the dataset from a run's options.

A scorer spec names the dual encoder that scores templates:

    hf:<id or dir>      CLIP through transformers (what ``--clip`` sets; a bare id means the same)
    clip:<id or dir>    the same
    text:<id or dir>    a sentence encoder for zero-shot *text* classification (classify/sentence.py)
    siglip:<id or dir>  SigLIP or SigLIP 2 (fixed resolution) through transformers (classify/siglip.py)
    openai:<name|file>  OpenAI's original CLIP checkpoints with torch only (RN50, RN101, ViT-B/16, ...;
                        classify/openai_clip.py); ``?tokenizer=DIR`` names a local CLIP tokenizer
    open_clip:<arch>/<pretrained>  open_clip, where it and torchvision are installed (not by default)
    <name>:<argument>   a third-party scorer: the entry point ``name`` of the group ``promptclimb.scorers``,
                        called as ``factory(argument, device=..., precision=...)`` -> a DualEncoder

The dataset's modality must match the model's: a text encoder needs a CSV text dataset (train.csv, ...),
CLIP an image dataset.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from promptclimb.evaluators.base import DualEncoder
from promptclimb.evaluators.classify.clip import load_clip
from promptclimb.evaluators.classify.data import load_dataset
from promptclimb.evaluators.classify.dataset import FewShotDataset
from promptclimb.evaluators.classify.errors import DataError
from promptclimb.evaluators.classify.specs import (
    BUILT_IN,
    HF_KINDS,
    ModelLoadError,
    is_plugin_spec,
    split_spec,
)
from promptclimb.evaluators.classify.texts import TextDataset, is_text_dataset, load_text_dataset
from promptclimb.evaluators.quiet import no_progress_bars

ENTRY_POINT_GROUP = "promptclimb.scorers"


def scorer_plugins() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def untrusted_reason(spec: str) -> str | None:
    """Why a spec read from a run's config.json must not load without consent: a plugin is code to import,
    and a checkpoint file other than OpenAI's own may be a TorchScript archive, which carries code."""
    kind, target = split_spec(spec)
    if is_plugin_spec(spec):
        return f"scorer {spec} would be imported and run"
    if kind == "openai":
        from promptclimb.evaluators.classify.openai_clip import OpenAISpec, checkpoint_name

        model = OpenAISpec.parse(target).model
        if checkpoint_name(model) is None:
            return (
                f"scorer {spec} would load the checkpoint file {model} (a TorchScript archive may run code)"
            )
    return None


def load_backbone(spec: str, *, device: str | None = None, precision: str = "auto") -> DualEncoder:
    """The scorer's model; no third-party progress bar is drawn while it loads (evaluators/quiet.py)."""
    with no_progress_bars():
        return _load_backbone(spec, device=device, precision=precision)


def _load_backbone(spec: str, *, device: str | None, precision: str) -> DualEncoder:
    kind, target = split_spec(spec)
    if kind in HF_KINDS:
        return load_clip(target, device=device, precision=precision)
    if kind == "text":
        from promptclimb.evaluators.classify.sentence import load_sentence_encoder

        return load_sentence_encoder(target, device=device)
    if kind == "siglip":
        from promptclimb.evaluators.classify.siglip import load_siglip

        return load_siglip(target, device=device, precision=precision)
    if kind == "openai":
        from promptclimb.evaluators.classify.openai_clip import load_openai_clip

        return load_openai_clip(target, device=device, precision=precision)
    if kind == "open_clip":
        from promptclimb.evaluators.classify.open_clip_backend import load_open_clip

        return load_open_clip(target, device=device, precision=precision)
    plugins = scorer_plugins()
    if kind not in plugins:
        known = ", ".join([*BUILT_IN, *sorted(plugins)])
        raise ModelLoadError(f"unknown scorer '{kind}' in '{spec}' (known: {known})")
    factory = plugins[kind].load()  # type: ignore[attr-defined]
    return factory(target, device=device, precision=precision)


def load_any_dataset(
    path: str,
    *,
    shots: int,
    seed: int,
    layout: str = "auto",
    coop_name: str | None = None,
    class_names: str = "coop",
    sampler: str = "promptclimb",
    text_column: str | None = None,
    label_column: str | None = None,
) -> FewShotDataset | TextDataset:
    """A CSV text dataset (a folder with train.csv) or an image dataset (every other layout)."""
    if layout == "csv" or (layout == "auto" and is_text_dataset(path)):
        if class_names != "coop" or sampler != "promptclimb":
            raise DataError(
                "class names 'clip' and sampler 'coop' are for the CoOp image benchmarks, not CSV text data"
            )
        return load_text_dataset(
            path, shots=shots, seed=seed, text_column=text_column, label_column=label_column
        )
    return load_dataset(
        path,
        shots=shots,
        seed=seed,
        layout=layout,
        coop_name=coop_name,
        class_names=class_names,
        sampler=sampler,
    )


# What the built-in scorers read, known before they load (a plugin's is known once it has loaded).
READS = {
    "hf": "image",
    "clip": "image",
    "siglip": "image",
    "openai": "image",
    "open_clip": "image",
    "text": "text",
}


def check_modality(dataset: FewShotDataset | TextDataset, backbone: DualEncoder, spec: str) -> None:
    _check_reads(dataset, backbone.modality, spec)


def check_spec_modality(dataset: FewShotDataset | TextDataset, spec: str) -> None:
    """``check_modality`` before the model loads: a CSV text set with the default CLIP is told at once."""
    reads = READS.get(split_spec(spec)[0])
    if reads is not None:
        _check_reads(dataset, reads, spec)


def _check_reads(dataset: FewShotDataset | TextDataset, reads: str, spec: str) -> None:
    have = dataset.modality
    if have != reads:
        hint = (
            "--scorer text:all-MiniLM-L6-v2 (or another sentence encoder)"
            if have == "text"
            else "--clip <CLIP model>"
        )
        raise DataError(
            f"dataset '{dataset.name}' holds {have}s but scorer '{spec}' reads {reads}s; use {hint}"
        )
