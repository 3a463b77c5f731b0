"""Template pools and the hand-made template / class-name data shipped in prompts/."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import pytest

from promptclimb.prompts.handmade import (
    CLIP_TEMPLATES,
    COOP_DATASETS,
    COOP_TEMPLATES,
    IMAGENET_TEMPLATES_SELECTED,
    coop_template,
    dataset_key,
    imagenet_classname_by_wnid,
    imagenet_classnames,
    imagenet_templates,
    imagenet_wnids,
)
from promptclimb.prompts.pools import CAPTION_TEMPLATES, POOLS, handmade_templates, load_pool
from promptclimb.prompts.template import TemplateError, normalize, validate

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------- data


def test_imagenet_classnames_are_clips_1000_in_wordnet_order():
    names, wnids = imagenet_classnames(), imagenet_wnids()
    assert len(names) == len(wnids) == 1000
    assert wnids == sorted(wnids) and len(set(wnids)) == 1000
    assert names[:3] == ["tench", "goldfish", "great white shark"]
    assert names[-1] == "toilet paper"
    lookup = imagenet_classname_by_wnid()
    assert lookup["n02012849"] == "crane bird" and lookup["n03126707"] == "construction crane"
    assert lookup["n04008634"] == "missile"  # CLIP's list has this name twice; kept as published


def test_imagenet_wnids_match_the_real_samples():
    samples = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "imagenet-samples"
    assert sorted(p.name[:9] for p in samples.glob("n*.JPEG")) == imagenet_wnids()


def test_imagenet_templates():
    templates = imagenet_templates()
    assert len(templates) == 80 and len({normalize(t) for t in templates}) == 80
    assert templates[0] == "a bad photo of a {}." and templates[-1] == "a tattoo of the {}."
    assert set(IMAGENET_TEMPLATES_SELECTED) <= set(templates) and len(IMAGENET_TEMPLATES_SELECTED) == 7


def test_every_shipped_template_is_valid():
    shipped = [*imagenet_templates(), *COOP_TEMPLATES.values(), *CAPTION_TEMPLATES]
    for templates in CLIP_TEMPLATES.values():
        shipped.extend(templates)
    for pool in POOLS.values():
        shipped.extend(pool)
    for template in shipped:
        assert validate(template) == template


def test_per_dataset_templates_cover_the_coop_datasets():
    assert set(COOP_TEMPLATES) == set(COOP_DATASETS)
    assert set(CLIP_TEMPLATES) == set(COOP_DATASETS) - {"imagenet"}
    assert len(CLIP_TEMPLATES["ucf101"]) == 48
    assert CLIP_TEMPLATES["ucf101"][:2] == ("a photo of a person {}.", "a video of a person {}.")
    assert CLIP_TEMPLATES["ucf101"][-1] == "a demonstration of the person practicing {}."
    assert len(CLIP_TEMPLATES["caltech101"]) == 34
    assert COOP_TEMPLATES["dtd"] == "{} texture."


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("oxford_pets", ["a photo of a {}, a type of pet."]),
        ("OxfordPets", ["a photo of a {}, a type of pet."]),
        ("Flowers102", ["a photo of a {}, a type of flower."]),
        ("food-101", ["a photo of {}, a type of food."]),
        ("DescribableTextures", list(CLIP_TEMPLATES["dtd"])),
    ],
)
def test_handmade_templates_for_coop_datasets(name: str, expected: list[str]):
    assert handmade_templates(name) == expected


@pytest.mark.parametrize("name", ["imagenet", "ImageNet", "clothing-small", "imagenet-samples", ""])
def test_handmade_templates_default_to_imagenets_80(name: str):
    assert handmade_templates(name) == imagenet_templates()


def test_dataset_keys_and_coop_template():
    assert dataset_key("Caltech-101") == "caltech101"
    assert dataset_key("FGVC Aircraft") == "fgvc_aircraft"
    assert dataset_key("clothing-small") is None
    assert coop_template("EuroSAT") == "a centered satellite photo of {}."
    assert coop_template("my-photos") == "a photo of a {}."


def test_data_files_ship_with_the_package():
    data = resources.files("promptclimb.prompts.data")
    assert data.joinpath("imagenet_classes.tsv").is_file()
    assert data.joinpath("imagenet_templates.txt").is_file()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "promptclimb.prompts.data" in pyproject["tool"]["setuptools"]["packages"]
    assert "data/*" in pyproject["tool"]["setuptools"]["package-data"]["promptclimb.prompts"]


# ------------------------------------------------------------------------------------------ pools


def test_builtin_pools():
    assert POOLS["single"] == ["a photo of a {}."]
    assert POOLS["clip-imagenet"] == imagenet_templates()
    assert len(POOLS["caption"]) >= 40
    assert len({normalize(t) for t in POOLS["caption"]}) == len(POOLS["caption"])
    assert {"clip-imagenet-selected", "clip-dtd", "clip-ucf101"} <= set(POOLS)


def test_load_named_pool_and_sample():
    assert load_pool("clip-imagenet", size=None, seed=0) == imagenet_templates()
    sample = load_pool("clip-imagenet", size=10, seed=1)
    assert len(sample) == 10 and len(set(sample)) == 10
    assert set(sample) <= set(imagenet_templates())
    # Kept in pool order.
    order = imagenet_templates()
    assert sample == sorted(sample, key=order.index)
    assert load_pool("clip-imagenet", size=10, seed=1) == sample
    assert load_pool("clip-imagenet", size=10, seed=2) != sample
    assert load_pool("single", size=5, seed=1) == ["a photo of a {}."]


def test_load_pool_rejects_bad_size():
    with pytest.raises(TemplateError, match="pool size must be at least 1"):
        load_pool("caption", size=0, seed=1)


def test_unknown_pool_lists_known_names():
    with pytest.raises(TemplateError) as info:
        load_pool("clip-imagenett", size=None, seed=0)
    message = str(info.value)
    assert "unknown pool 'clip-imagenett'" in message
    assert all(name in message for name in ("single", "clip-imagenet", "caption"))


def test_user_pool_file(tmp_path: Path):
    path = tmp_path / "mine.txt"
    path.write_text(
        "# my templates\n"
        "\n"
        "a photo of a {}.\n"
        "  A photo   of a {}.  \n"  # duplicate after normalization
        "a #1 photo of a {}.\n"  # '#' inside a template is kept
        "    # indented comment\n"
        "itap of a {}\n",
        encoding="utf-8",
    )
    assert load_pool(str(path), size=None, seed=0) == [
        "a photo of a {}.",
        "a #1 photo of a {}.",
        "itap of a {}",
    ]
    assert len(load_pool(str(path), size=2, seed=3)) == 2


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("a photo of a cat.", "no {} placeholder"),
        ("a {} photo of a {0}.", "braces other than"),
        ("x" * 301 + " {}", "longer than 300"),
        ("{} {} {} {}", "more than 3"),
    ],
)
def test_user_pool_file_errors_name_the_line(tmp_path: Path, line: str, reason: str):
    path = tmp_path / "bad.txt"
    path.write_text(f"# header\na photo of a {{}}.\n\n{line}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=rf"bad.txt:4: .*{reason}"):
        load_pool(str(path), size=None, seed=0)


def test_user_pool_file_with_no_templates(tmp_path: Path):
    path = tmp_path / "empty.txt"
    path.write_text("# nothing\n\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="empty.txt: no templates"):
        load_pool(str(path), size=None, seed=0)


def test_user_pool_file_not_utf8(tmp_path: Path):
    path = tmp_path / "latin.txt"
    path.write_bytes("une photo d'un {} \xe9t\xe9\n".encode("latin-1"))
    with pytest.raises(TemplateError, match="cannot read pool file"):
        load_pool(str(path), size=None, seed=0)
