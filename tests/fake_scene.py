"""A toy visual world for the text-to-image tests: a literal "generator" that draws coloured shapes named in a
prompt, and a "vision model" that really looks at the pixels to answer questions, rate and describe.

The generator knows a few colour words only: "crimson cube" draws a GREY cube, so a prompt can be improved
("red cube"), and the loop has something to climb. Shapes are drawn with flat palette colours on white,
without anti-aliasing, so the analyser finds them exactly.

    cube/box/square -> square    sphere/ball/circle -> circle    pyramid/triangle/cone -> triangle
    dog -> a wide ellipse (brown unless a colour is given)
Layout: objects left to right in order of mention; "A on top of B" (or "above", "on") stacks A over B.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SIZE = 256
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 60),
    "blue": (30, 60, 220),
    "yellow": (240, 210, 20),
    "purple": (140, 40, 170),
    "orange": (250, 130, 0),
    "brown": (120, 70, 20),
    "black": (10, 10, 10),
    "grey": (128, 128, 128),
}
# Colours a strong critic would fix: the toy generator does not know these words.
SYNONYMS = {"crimson": "red", "scarlet": "red", "azure": "blue", "navy": "blue", "emerald": "green"}
SHAPES = {
    "cube": "cube", "cubes": "cube", "box": "cube", "boxes": "cube", "square": "cube", "squares": "cube",
    "sphere": "sphere", "spheres": "sphere", "ball": "sphere", "balls": "sphere", "circle": "sphere",
    "pyramid": "pyramid", "pyramids": "pyramid", "triangle": "pyramid", "cone": "pyramid",
    "dog": "dog", "dogs": "dog",
}  # fmt: skip
NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
ABOVE = ("on top of", "above", "on")


@dataclass(frozen=True)
class Thing:
    color: str
    shape: str


@dataclass(frozen=True)
class Blob:
    color: str
    shape: str
    box: tuple[int, int, int, int]  # left, top, right, bottom (inclusive)

    @property
    def cx(self) -> float:
        return (self.box[0] + self.box[2]) / 2


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+|\d+", text.lower())


def parse_scene(prompt: str) -> tuple[list[Thing], list[tuple[int, int]]]:
    """Things in order of mention, and (upper, lower) index pairs for "A on top of B"."""
    things: list[Thing] = []
    stacks: list[tuple[int, int]] = []
    count, color, relation_from = 1, None, None
    text = " ".join(words(prompt))
    for marker in ABOVE:  # one token for the relation, so "on top of" is not read as three words
        text = re.sub(rf"\b{marker}\b", " ONTOP ", text)
    for word in text.split():
        if word == "ONTOP":
            relation_from = len(things) - 1 if things else None
        elif word in NUMBERS:
            count = NUMBERS[word]
        elif word.isdigit():
            count = int(word)
        elif word in PALETTE:
            color = word
        elif word in SHAPES:
            shape = SHAPES[word]
            first = len(things)
            things += [Thing(color or ("brown" if shape == "dog" else "grey"), shape)] * max(1, min(count, 5))
            if relation_from is not None:
                stacks.append((relation_from, first))
                relation_from = None
            count, color = 1, None
    return things, stacks


def render(prompt: str) -> Image.Image:
    """The toy generator: deterministic in the prompt (the seed is ignored, as by DALL-E)."""
    things, stacks = parse_scene(prompt)
    columns: list[list[int]] = []  # each column: thing indices from the bottom up
    column_of: dict[int, int] = {}
    uppers = {upper: lower for upper, lower in stacks}
    for i in range(len(things)):
        if i in uppers:
            continue
        column_of[i] = len(columns)
        columns.append([i])
    for upper, lower in stacks:
        column = column_of.get(lower)
        if column is None:  # the lower thing is itself stacked: put the upper one on the same column
            column = column_of.get(uppers.get(lower, -1), 0) if columns else None
        if column is None:
            column_of[upper] = len(columns)
            columns.append([upper])
        else:
            column_of[upper] = column
            columns[column].append(upper)
    image = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    width = SIZE // max(1, len(columns))
    for c, column in enumerate(columns):
        height = (SIZE - 8) // max(3, len(column))
        for level, index in enumerate(column):
            left, bottom = c * width + 4, SIZE - 4 - level * height
            draw_thing(draw, things[index], (left, bottom - height + 6, left + width - 8, bottom))
    return image


def draw_thing(draw: ImageDraw.ImageDraw, thing: Thing, box: tuple[int, int, int, int]) -> None:
    left, top, right, bottom = box
    side = max(4, min(right - left, bottom - top))
    fill = PALETTE[thing.color]
    x0, y1 = left, bottom
    if thing.shape == "dog":
        draw.ellipse((x0, y1 - side // 2, x0 + side, y1), fill=fill)
    elif thing.shape == "sphere":
        draw.ellipse((x0, y1 - side, x0 + side, y1), fill=fill)
    elif thing.shape == "pyramid":
        draw.polygon([(x0, y1), (x0 + side, y1), (x0 + side // 2, y1 - side)], fill=fill)
    else:
        draw.rectangle((x0, y1 - side, x0 + side, y1), fill=fill)


def analyse(image: Image.Image) -> list[Blob]:
    """Find the drawn things: per palette colour, split the mask by empty columns then empty rows."""
    pixels = np.asarray(image.convert("RGB")).astype(np.int16)
    blobs: list[Blob] = []
    for color, rgb in PALETTE.items():
        mask = np.all(np.abs(pixels - np.array(rgb)) <= 2, axis=-1)
        for box in split(mask, 0, 0, mask.shape[1] - 1, mask.shape[0] - 1):
            blobs.append(Blob(color, classify(mask, box), box))
    return sorted(blobs, key=lambda b: (b.cx, -b.box[3]))


def split(mask: np.ndarray, left: int, top: int, right: int, bottom: int) -> list[tuple[int, int, int, int]]:
    region = mask[top : bottom + 1, left : right + 1]
    if region.sum() < 12:  # specks are noise
        return []
    for axis in (0, 1):  # columns first, then rows
        filled = region.any(axis=axis)
        runs = runs_of(filled)
        if len(runs) > 1:
            out = []
            for a, b in runs:
                if axis == 0:
                    out += split(mask, left + a, top, left + b, bottom)
                else:
                    out += split(mask, left, top + a, right, top + b)
            return out
    cols, rows = np.flatnonzero(region.any(axis=0)), np.flatnonzero(region.any(axis=1))
    return [(left + int(cols[0]), top + int(rows[0]), left + int(cols[-1]), top + int(rows[-1]))]


def runs_of(filled: np.ndarray) -> list[tuple[int, int]]:
    runs, start = [], None
    for i, on in enumerate(filled):
        if on and start is None:
            start = i
        elif not on and start is not None:
            runs.append((start, i - 1))
            start = None
    if start is not None:
        runs.append((start, len(filled) - 1))
    return runs


def classify(mask: np.ndarray, box: tuple[int, int, int, int]) -> str:
    left, top, right, bottom = box
    w, h = right - left + 1, bottom - top + 1
    fill = mask[top : bottom + 1, left : right + 1].mean()
    if w > 1.5 * h:
        return "dog"
    if fill > 0.93:
        return "cube"
    return "sphere" if fill > 0.65 else "pyramid"


# --- the toy vision model ------------------------------------------------------------------------------


def mentioned(text: str) -> tuple[list[str], list[str], int | None]:
    """Shapes, colours and a count named in a question, in order."""
    ws = [SYNONYMS.get(w, w) for w in words(text)]
    shapes = [SHAPES[w] for w in ws if w in SHAPES]
    colors = [w for w in ws if w in PALETTE]
    counted = [w for w in ws if w.isdigit() or (w in NUMBERS and w not in ("a", "an"))]
    counts = [int(w) if w.isdigit() else NUMBERS[w] for w in counted]
    return shapes, colors, counts[0] if counts else None


def answer(question: str, blobs: list[Blob]) -> bool:
    """Answer a yes/no question about the analysed image, the way the DSG questions are phrased."""
    q = question.lower()
    shapes, colors, count = mentioned(q)
    if not shapes:
        return False
    first = [b for b in blobs if b.shape == shapes[0] and (not colors or b.color == colors[0])]
    if len(shapes) >= 2:
        second = [b for b in blobs if b.shape == shapes[1]]
        if "left of" in q:
            return any(a.cx < b.cx for a in first for b in second)
        if "right of" in q:
            return any(a.cx > b.cx for a in first for b in second)
        if any(re.search(rf"\b{m}\b", q) for m in ABOVE):
            return any(a.box[3] <= b.box[1] + 2 and abs(a.cx - b.cx) < 40 for a in first for b in second)
    if count is not None:
        return len(first) == count
    return bool(first)


def scene_questions(things: list[Thing], stacks: list[tuple[int, int]]) -> list[dict]:
    """DSG-style questions for a scene: entities, then their colour and count, then relations."""
    questions: list[dict] = []
    entity_id: dict[str, int] = {}
    for shape in dict.fromkeys(t.shape for t in things):
        qid = len(questions) + 1
        entity_id[shape] = qid
        questions.append({"id": qid, "question": f"Is there a {shape}?", "category": "entity", "parents": []})
        same = [t for t in things if t.shape == shape]
        if len(same) > 1:
            text = f"Are there {len(same)} {shape}s?"
            questions.append(
                {"id": len(questions) + 1, "question": text, "category": "count", "parents": [qid]}
            )
        color = same[0].color
        if color not in ("grey",) and not (shape == "dog" and color == "brown"):
            text = f"Is the {shape} {color}?"
            questions.append(
                {"id": len(questions) + 1, "question": text, "category": "attribute", "parents": [qid]}
            )
    for upper, lower in stacks:
        a, b = things[upper].shape, things[lower].shape
        text = f"Is the {a} on top of the {b}?"
        parents = [entity_id[a], entity_id[b]]
        questions.append(
            {"id": len(questions) + 1, "question": text, "category": "relation", "parents": parents}
        )
    return questions


def describe(blobs: list[Blob], with_synonyms: bool = True) -> str:
    """A prompt for what is in the image; a weak describer uses colour words the generator does not know."""
    back = {v: k for k, v in SYNONYMS.items()} if with_synonyms else {}
    parts = [f"a {back.get(b.color, b.color)} {b.shape}" for b in blobs]
    return ", ".join(parts) or "an empty white image"


def fix_prompt(prompt: str) -> str:
    """What a good critic does in this world: say colours the generator understands."""
    return " ".join(SYNONYMS.get(w, w) for w in prompt.split())


def similarity(a: list[Blob], b: list[Blob]) -> float:
    """Jaccard overlap of the (colour, shape) multisets of two analysed images."""
    ka = sorted((x.color, x.shape) for x in a)
    kb = sorted((x.color, x.shape) for x in b)
    common = sum(min(ka.count(k), kb.count(k)) for k in set(ka))
    union = len(ka) + len(kb) - common
    return common / union if union else 1.0
