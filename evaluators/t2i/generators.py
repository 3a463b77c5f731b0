"""Image generators: the black-box model of the text-to-image tasks, "prompt (and seed) in, image out".

    openai:dall-e-3 | openai:gpt-image-1 | openai:<model>   the OpenAI Images API (or a compatible server)
    diffusers:<hf id or local directory>                     a local diffusers pipeline (extra `diffusers`)
    plugin:<module>:<callable>                               callable(**options) -> ImageGenerator

Anything with ``generate(prompt, seed) -> PIL.Image`` and a ``price_per_image`` plugs in. Extra facts about
one image (the prompt an API actually drew, after its own rewriting) travel in the image's ``info`` dict.
"""

from __future__ import annotations

import base64
import importlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from PIL import Image, PngImagePlugin

from promptclimb.errors import UserError
from promptclimb.llm.credentials import sends_default_openai_key

# USD per image, from OpenAI's published prices: (model, quality, size) -> price. gpt-image-1 is billed by
# tokens; these are its per-image output prices (prompt tokens add about $0.00002 per word, left out).
OPENAI_IMAGE_PRICES: dict[tuple[str, str, str], float] = {
    ("dall-e-3", "standard", "1024x1024"): 0.040,
    ("dall-e-3", "standard", "1024x1792"): 0.080,
    ("dall-e-3", "standard", "1792x1024"): 0.080,
    ("dall-e-3", "hd", "1024x1024"): 0.080,
    ("dall-e-3", "hd", "1024x1792"): 0.120,
    ("dall-e-3", "hd", "1792x1024"): 0.120,
    ("dall-e-2", "standard", "256x256"): 0.016,
    ("dall-e-2", "standard", "512x512"): 0.018,
    ("dall-e-2", "standard", "1024x1024"): 0.020,
    ("gpt-image-1", "low", "1024x1024"): 0.011,
    ("gpt-image-1", "low", "1024x1536"): 0.016,
    ("gpt-image-1", "low", "1536x1024"): 0.016,
    ("gpt-image-1", "medium", "1024x1024"): 0.042,
    ("gpt-image-1", "medium", "1024x1536"): 0.063,
    ("gpt-image-1", "medium", "1536x1024"): 0.063,
    ("gpt-image-1", "high", "1024x1024"): 0.167,
    ("gpt-image-1", "high", "1024x1536"): 0.250,
    ("gpt-image-1", "high", "1536x1024"): 0.250,
}
# Explicit defaults, so that the price of every image is known ("auto" quality has no fixed price).
DEFAULT_QUALITY = {"dall-e-3": "standard", "dall-e-2": "standard", "gpt-image-1": "medium"}
DEFAULT_SIZE = "1024x1024"
REVISED_PROMPT = "revised_prompt"  # key in Image.info: the prompt the API says it drew


class GeneratorError(UserError, RuntimeError):
    """A generator that cannot be built or reached; the message is one line. The run stops, resumable."""


class PromptRejected(GeneratorError):
    """The generator refused this prompt (content policy, too long): it is dropped, the run goes on."""


@runtime_checkable
class ImageGenerator(Protocol):
    name: str  # for the run log and reports, e.g. "openai:dall-e-3"
    price_per_image: float  # USD, 0.0 for local models

    def generate(self, prompt: str, seed: int) -> Image.Image:
        """One image for the prompt; the seed is honoured where the backend has one."""
        ...


@dataclass(frozen=True)
class GeneratorOptions:
    """Everything a generator may need; each kind reads what it understands."""

    base_url: str | None = None
    api_key_env: str | None = None
    size: str | None = None  # "1024x1024" (OpenAI) or "512x512" (diffusers: height x width of the output)
    quality: str | None = None
    price_per_image: float | None = None  # overrides the price table (compatible servers, plugins)
    steps: int | None = None  # diffusers inference steps
    guidance: float | None = None  # diffusers classifier-free guidance scale
    device: str | None = None
    timeout: float = 120.0
    max_retries: int = 3


def image_price(model: str, quality: str | None, size: str | None) -> float | None:
    """The table price of one image, or None for a model/quality/size the table does not know."""
    quality = quality or DEFAULT_QUALITY.get(model, "standard")
    return OPENAI_IMAGE_PRICES.get((model, quality, size or DEFAULT_SIZE))


def parse_size(size: str) -> tuple[int, int]:
    try:
        width, height = (int(x) for x in size.lower().split("x"))
    except ValueError as error:
        raise GeneratorError(f"bad image size {size!r}: expected WIDTHxHEIGHT, e.g. 512x512") from error
    return width, height


class OpenAIImageGenerator:
    """The OpenAI Images API through the official client; ``base_url`` points it at any compatible server."""

    def __init__(
        self, model: str, options: GeneratorOptions | None = None, client: Any | None = None
    ) -> None:
        options = options or GeneratorOptions()
        self.model = model
        self.name = f"openai:{model}"
        self.size = options.size or DEFAULT_SIZE
        self.quality = options.quality or DEFAULT_QUALITY.get(model)
        price = options.price_per_image
        if price is None:
            price = image_price(model, self.quality, self.size)
        if price is None:
            raise GeneratorError(
                f"no known price for {model} at quality {self.quality}, size {self.size}: "
                "pass --image-price USD (0 for a free local server)"
            )
        self.price_per_image = price
        self.client = client or self._client(options)

    @staticmethod
    def _client(options: GeneratorOptions) -> Any:
        import openai

        from promptclimb.llm.deadline import deadline_client

        env = options.api_key_env or "OPENAI_API_KEY"
        # OPENAI_API_KEY goes to OpenAI only: a third-party server gets a key only when the user names it.
        named = options.api_key_env is not None or sends_default_openai_key(options.base_url)
        key = os.environ.get(env) if named else None
        if not key and options.base_url is None:
            raise GeneratorError(f"the OpenAI Images API needs an API key in ${env}")
        return openai.OpenAI(
            api_key=key or "unused",  # local compatible servers ignore the key
            base_url=options.base_url,
            timeout=options.timeout,
            max_retries=options.max_retries,  # the client's own backoff on 429/5xx/connection errors
            http_client=deadline_client(options.timeout),  # the timeout bounds the whole reply, headers too
        )

    def request(self, prompt: str) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model, "prompt": prompt, "n": 1, "size": self.size}
        if self.quality:
            params["quality"] = self.quality
        if not self.model.startswith("gpt-image"):  # gpt-image models always answer base64, reject the field
            params["response_format"] = "b64_json"
        return params

    def generate(self, prompt: str, seed: int) -> Image.Image:
        del seed  # the Images API has no seed
        import openai

        try:
            response = self.client.images.generate(**self.request(prompt))
        except openai.BadRequestError as error:  # 400: this prompt, not the service (e.g. content policy)
            raise PromptRejected(f"{self.name} refused the prompt: {one_line(error)}") from error
        except openai.OpenAIError as error:
            raise GeneratorError(f"{self.name}: {type(error).__name__}: {one_line(error)}") from error
        if not response.data or not response.data[0].b64_json:
            raise GeneratorError(f"{self.name}: the reply holds no base64 image")
        item = response.data[0]
        image = decode_b64_png(item.b64_json, self.name)
        if item.revised_prompt:
            image.info[REVISED_PROMPT] = item.revised_prompt
        return image


def decode_b64_png(data: str, source: str) -> Image.Image:
    try:
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            image.load()
            return image.convert("RGB")
    except (OSError, ValueError) as error:
        raise GeneratorError(f"{source}: the returned image cannot be decoded ({one_line(error)})") from error


class DiffusersGenerator:
    """A local diffusers text-to-image pipeline: a Hugging Face id, or a directory from save_pretrained."""

    def __init__(self, model: str, options: GeneratorOptions | None = None) -> None:
        options = options or GeneratorOptions()
        try:
            import diffusers
            import torch
        except ImportError as error:
            raise GeneratorError(
                "the diffusers generator needs the extra: pip install 'promptclimb[diffusers]'"
            ) from error
        self.torch = torch
        self.name = f"diffusers:{model}"
        self.price_per_image = options.price_per_image or 0.0
        self.device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.steps = options.steps or 30
        self.guidance = options.guidance
        self.size = parse_size(options.size) if options.size else None
        # Half precision on GPUs; the pipeline's own float32 elsewhere. (The keyword is "torch_dtype" in
        # every diffusers release; 0.36+ also takes "dtype" and warns about the old name, harmlessly.)
        half = {"torch_dtype": torch.float16} if self.device.startswith("cuda") else {}
        diffusers.utils.logging.disable_progress_bar()  # the CLI shows its own progress
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                pipe = diffusers.DiffusionPipeline.from_pretrained(model, **half)
        except (OSError, ValueError) as error:
            where = "directory" if Path(model).exists() else "Hugging Face id (offline or unknown?)"
            raise GeneratorError(
                f"cannot load diffusers pipeline from {where} {model}: {one_line(error)}"
            ) from error
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe.to(self.device)

    def generate(self, prompt: str, seed: int) -> Image.Image:
        generator = self.torch.Generator(device="cpu").manual_seed(seed)  # CPU generator: same image anywhere
        kwargs: dict[str, Any] = {"num_inference_steps": self.steps, "generator": generator}
        if self.guidance is not None:
            kwargs["guidance_scale"] = self.guidance
        if self.size:
            kwargs["width"], kwargs["height"] = self.size
        with self.torch.inference_mode():
            image = self.pipe(prompt, **kwargs).images[0]
        return image.convert("RGB")


def load_plugin(target: str, options: GeneratorOptions) -> ImageGenerator:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise GeneratorError(f"bad plugin generator {target!r}: expected plugin:package.module:callable")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as error:
        raise GeneratorError(f"cannot import plugin generator {target}: {one_line(error)}") from error
    generator = factory(options=options)
    if not isinstance(generator, ImageGenerator):
        raise GeneratorError(
            f"plugin {target} did not return an ImageGenerator (name, price_per_image, generate)"
        )
    return generator


def open_generator(spec: str, options: GeneratorOptions | None = None) -> ImageGenerator:
    """Build a generator from ``kind:target`` (see the module docstring)."""
    options = options or GeneratorOptions()
    kind, _, target = spec.partition(":")
    if not target:
        raise GeneratorError(
            f"bad --generator {spec!r}: expected openai:MODEL, diffusers:MODEL or plugin:MOD:FN"
        )
    if kind == "openai":
        return OpenAIImageGenerator(target, options)
    if kind == "diffusers":
        return DiffusersGenerator(target, options)
    if kind == "plugin":
        return load_plugin(target, options)
    raise GeneratorError(f"unknown generator kind {kind!r} in {spec!r} (openai, diffusers or plugin)")


def save_png(image: Image.Image, path: Path, metadata: dict[str, str]) -> None:
    """Write atomically, with the prompt and seed in PNG text chunks (a resume reuses a finished file)."""
    info = PngImagePlugin.PngInfo()
    for key, value in metadata.items():
        info.add_text(key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".png.tmp")
    tmp.unlink(missing_ok=True)  # a link planted at the name goes, its target untouched
    with open(tmp, "xb") as handle:  # created afresh: never follows a link out of the run
        image.save(handle, format="PNG", pnginfo=info)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_png_metadata(path: Path) -> dict[str, str] | None:
    """The text chunks of a finished PNG, or None if it is missing or unreadable."""
    try:
        with Image.open(path) as image:
            image.load()
            return dict(getattr(image, "text", {}))
    except (OSError, ValueError):
        return None


def one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
