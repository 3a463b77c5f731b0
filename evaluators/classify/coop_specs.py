"""The 11 CoOp benchmark datasets: where each lives under $DATA (CoOp's DATASETS.md), its split file, and the
class renames and exclusions CoOp's loaders apply."""

from __future__ import annotations

from dataclasses import dataclass

from promptclimb.prompts.handmade import COOP_DATASETS


@dataclass(frozen=True)
class CoopSpec:
    folder: str  # directory name under $DATA in CoOp's DATASETS.md
    image_dir: str  # where split paths are rooted, relative to the dataset folder
    split_file: str | None = None  # split_zhou_*.json, for the JSON-split datasets


COOP_SPECS: dict[str, CoopSpec] = {
    "imagenet": CoopSpec("imagenet", "images"),
    "caltech101": CoopSpec("caltech-101", "101_ObjectCategories", "split_zhou_Caltech101.json"),
    "oxford_pets": CoopSpec("oxford_pets", "images", "split_zhou_OxfordPets.json"),
    "stanford_cars": CoopSpec("stanford_cars", "", "split_zhou_StanfordCars.json"),
    "oxford_flowers": CoopSpec("oxford_flowers", "jpg", "split_zhou_OxfordFlowers.json"),
    "food101": CoopSpec("food-101", "images", "split_zhou_Food101.json"),
    "fgvc_aircraft": CoopSpec("fgvc_aircraft", "images"),
    "sun397": CoopSpec("sun397", "SUN397", "split_zhou_SUN397.json"),
    "dtd": CoopSpec("dtd", "images", "split_zhou_DescribableTextures.json"),
    "eurosat": CoopSpec("eurosat", "2750", "split_zhou_EuroSAT.json"),
    "ucf101": CoopSpec("ucf101", "UCF-101-midframes", "split_zhou_UCF101.json"),
}
assert tuple(COOP_SPECS) == COOP_DATASETS

# Raw folder names some split files may still carry -> CoOp's readable names (CoOp datasets/*.py).
COOP_RENAMES: dict[str, dict[str, str]] = {
    "caltech101": {
        "airplanes": "airplane",
        "Faces": "face",
        "Leopards": "leopard",
        "Motorbikes": "motorbike",
    },
    "eurosat": {
        "AnnualCrop": "Annual Crop Land",
        "Forest": "Forest",
        "HerbaceousVegetation": "Herbaceous Vegetation Land",
        "Highway": "Highway or Road",
        "Industrial": "Industrial Buildings",
        "Pasture": "Pasture Land",
        "PermanentCrop": "Permanent Crop Land",
        "Residential": "Residential Buildings",
        "River": "River",
        "SeaLake": "Sea or Lake",
    },
}
# Caltech101 classes CoOp leaves out (background clutter, and the duplicate easy-faces class).
COOP_IGNORED: dict[str, frozenset[str]] = {"caltech101": frozenset({"BACKGROUND_Google", "Faces_easy"})}
