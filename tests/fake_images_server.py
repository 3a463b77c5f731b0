"""The fake OpenAI-compatible server (tests/fake_openai_server.py) with an images endpoint and a vision chat
model, both living in the toy world of tests/fake_scene.py, so the real openai and LangChain client code runs
end to end and the loop has something to improve:

- ``POST /v1/images/generations`` draws the prompt's shapes as a real PNG (base64), deterministically;
  a prompt containing a word of ``refuse_words`` gets OpenAI's 400 content-policy error.
- ``POST /v1/chat/completions`` recognises the request by its system prompt (prompts/t2i_meta.py) and
  answers by looking at the pixels of the images sent: DSG decompositions and answers, 1-5 ratings, and a
  critic that writes prompts (describing the reference with colour words the generator does not know, then
  fixing them once it has seen an image). Per-kind queues (``script``) override the world's answers.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
import threading
from collections import defaultdict, deque
from typing import Any

from PIL import Image

from promptclimb.prompts import t2i_meta as meta
from tests import fake_scene as world
from tests.fake_openai_server import FakeOpenAIServer, RecordedRequest, Response, chat_reply, error_reply

KINDS = ("decompose", "answer", "rate_text", "rate_image", "critic")
NEUTRAL = ("detailed", "sharp", "clean", "bright", "simple", "centered", "studio", "minimal", "crisp", "flat")


def head(template: str) -> str:
    """The fixed opening of a meta-prompt, before its first slot."""
    return template.split("<<", 1)[0][:80]


def tail(template: str) -> str:
    """The fixed end of a meta-prompt, after its last slot."""
    return template.rsplit(">>", 1)[-1][:80]


SYSTEMS = {
    head(meta.DSG_DECOMPOSE_SYSTEM): "decompose",
    head(meta.DSG_ANSWER_SYSTEM): "answer",
    head(meta.RATING_TEXT_SYSTEM): "rate_text",
    head(meta.RATING_IMAGE_SYSTEM): "rate_image",
    head(meta.SYSTEM_T2I): "critic",
    head(meta.SYSTEM_INVERT): "critic",
    head(meta.SYSTEM_EDIT): "critic",
}


def png_b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(
        b.get("text", "") for b in content or [] if isinstance(b, dict) and b.get("type") == "text"
    )


def images_of(content: Any) -> list[Image.Image]:
    if isinstance(content, str):
        return []
    out = []
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "image_url":
            data = block["image_url"]["url"].split(",", 1)[1]
            with Image.open(io.BytesIO(base64.b64decode(data))) as image:
                out.append(image.convert("RGB"))
    return out


class FakeImagesServer(FakeOpenAIServer):
    def __init__(self, model: str = "gpt-4o") -> None:
        super().__init__(model=model)
        self.route("POST", "/v1/images/generations", self._images)
        self.default_chat = self._vision_chat
        self.queues: dict[str, deque[Response]] = defaultdict(deque)
        self.refuse_words: set[str] = set()
        self.image_delay_s = 0.0  # slow generations down, so a test can kill a run mid-way
        self.image_prompts: list[str] = []
        self.seen_kinds: list[str] = []
        self._variant = itertools.count()
        self._world_lock = threading.Lock()

    def script(self, kind: str, *responses: Response) -> None:
        """Answers for one kind of chat request, served before the world's own."""
        assert kind in KINDS, kind
        self.queues[kind].extend(responses)

    def image_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.startswith("/v1/images/generations")]

    # -- images ------------------------------------------------------------------------------------

    def _images(self, request: RecordedRequest) -> Response:
        body = request.json or {}
        prompt, model = str(body.get("prompt", "")), str(body.get("model", ""))
        if not model.startswith("gpt-image") and body.get("response_format") != "b64_json":
            return error_reply(400, "this fake server only answers response_format=b64_json")
        if model.startswith("gpt-image") and "response_format" in body:
            return error_reply(400, "Unknown parameter: 'response_format'.")
        if any(word in prompt.lower() for word in self.refuse_words):
            return error_reply(400, "Your request was rejected as a result of our safety system.")
        with self._world_lock:
            self.image_prompts.append(prompt)
        item: dict[str, Any] = {"b64_json": png_b64(world.render(prompt))}
        if model == "dall-e-3":
            item["revised_prompt"] = f"{prompt} (as drawn)"
        return Response(body={"created": 0, "data": [item]}, delay_s=self.image_delay_s)

    # -- the vision chat model ------------------------------------------------------------------------

    def _vision_chat(self, request: RecordedRequest) -> Response:
        messages = (request.json or {}).get("messages", [])
        system = text_of(messages[0]["content"]) if messages else ""
        kind = next((k for prefix, k in SYSTEMS.items() if system.startswith(prefix)), None)
        if kind is None:  # not a text-to-image request: the base server's behaviour
            return chat_reply(json.dumps({"templates": ["a photo of a {}."]}))
        with self._world_lock:
            self.seen_kinds.append(kind)
            if self.queues[kind]:
                return self.queues[kind].popleft()
        handler = getattr(self, f"_{kind}")
        return chat_reply(json.dumps(handler(system, messages)), prompt_tokens=500, completion_tokens=50)

    @staticmethod
    def _last_user(messages: list[dict]) -> dict:
        return next(m for m in reversed(messages) if m["role"] == "user")

    def _decompose(self, system: str, messages: list[dict]) -> dict:
        user = self._last_user(messages)
        images = images_of(user["content"])
        if images:
            things, stacks = scene_of(world.analyse(images[0]))
        else:
            quoted = re.search(r'"(.*)"', text_of(user["content"]), re.DOTALL)
            things, stacks = world.parse_scene(world.fix_prompt(quoted.group(1) if quoted else ""))
        return {"questions": world.scene_questions(things, stacks)}

    def _answer(self, system: str, messages: list[dict]) -> dict:
        user = self._last_user(messages)
        blobs = world.analyse(images_of(user["content"])[0])
        questions = re.findall(r"^(\d+)\. (.+)$", text_of(user["content"]), re.MULTILINE)
        return {"answers": {qid: "yes" if world.answer(q, blobs) else "no" for qid, q in questions}}

    def _rate_text(self, system: str, messages: list[dict]) -> dict:
        user = self._last_user(messages)
        blobs = world.analyse(images_of(user["content"])[0])
        quoted = re.search(r'"(.*)"', text_of(user["content"]), re.DOTALL)
        things, _ = world.parse_scene(world.fix_prompt(quoted.group(1) if quoted else ""))
        found = [t for t in things if any(b.color == t.color and b.shape == t.shape for b in blobs)]
        missing = [f"{t.color} {t.shape}" for t in things if t not in found]
        rating = 1 + round(4 * len(found) / max(1, len(things)))
        return {"rating": rating, "reason": "missing: " + ", ".join(missing) if missing else "all there"}

    def _rate_image(self, system: str, messages: list[dict]) -> dict:
        reference, generated = images_of(self._last_user(messages)["content"])[:2]
        similarity = world.similarity(world.analyse(reference), world.analyse(generated))
        return {"rating": 1 + round(4 * similarity), "reason": f"{similarity:.0%} of the shapes match"}

    def _critic(self, system: str, messages: list[dict]) -> dict:
        users = [text_of(m["content"]) for m in messages if m["role"] == "user"]
        asks = re.findall(r"(?:Write|holding) (\d+)", users[-1])
        n = int(asks[0]) if asks else 2
        # the turn with the results (after a re-ask, the last user turn only says what was wrong)
        user = next((u for u in reversed(users) if 'Prompt: "' in u or "reference image" in u), users[-1])
        if tail(meta.DESCRIBE_REFERENCE) in user:
            reference = images_of(messages[1]["content"])[0]
            base = world.describe(world.analyse(reference), with_synonyms=True)
            return {"feedback": "first guess", "prompts": self._variants(base, n)}
        if tail(meta.START_EDIT) in user:
            recovered = re.search(r'the prompt "(.*?)" reproduces', system).group(1)
            edit = re.search(r'new situation:\n"(.*?)"', system).group(1)
            return {"feedback": "kept the subject", "prompts": self._variants(f"{recovered}, {edit}", n)}
        best = re.findall(r'Prompt: "(.*)"', user)
        after = user.split(head(meta.BEST_RESULTS))
        if len(after) > 1:
            best = re.findall(r'Prompt: "(.*)"', after[1]) or best
        fixed = world.fix_prompt(best[0] if best else "")
        return {
            "feedback": "the generator does not know some colour words",
            "prompts": self._variants(fixed, n),
        }

    def _variants(self, base: str, n: int) -> list[str]:
        """n distinct prompts the toy generator draws alike (neutral words change nothing it draws)."""
        out = []
        for _ in range(n):
            k = next(self._variant)
            words = [NEUTRAL[k % len(NEUTRAL)]] + (
                [NEUTRAL[(k // len(NEUTRAL)) % len(NEUTRAL)]] if k >= len(NEUTRAL) else []
            )
            out.append(f"{base}, {' '.join(words)} render")
        return out


def scene_of(blobs: list[world.Blob]) -> tuple[list[world.Thing], list[tuple[int, int]]]:
    """The scene an analysed image shows: its things, and which one sits on which."""
    things = [world.Thing(b.color, b.shape) for b in blobs]
    stacks = [
        (i, j)
        for i, a in enumerate(blobs)
        for j, b in enumerate(blobs)
        if i != j and a.box[3] <= b.box[1] + 2 and abs(a.cx - b.cx) < 40
    ]
    return things, stacks
