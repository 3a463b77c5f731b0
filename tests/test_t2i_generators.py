"""Image generators: the OpenAI Images API through the real client (fake server), prices, refusals, PNG
metadata, plugins, and a real diffusers pipeline with tiny random weights built offline."""

from __future__ import annotations

import pytest
from PIL import Image

from promptclimb.evaluators.t2i.generators import (
    REVISED_PROMPT,
    GeneratorError,
    GeneratorOptions,
    ImageGenerator,
    OpenAIImageGenerator,
    PromptRejected,
    image_price,
    open_generator,
    read_png_metadata,
    save_png,
)
from tests.fake_openai_server import error_reply
from tests.fake_scene import analyse
from tests.t2i_helpers import KEY_ENV, endpoints, only_run, serve, t2i


@pytest.fixture
def server(monkeypatch):
    yield from serve(monkeypatch)


def options(server, **extra) -> GeneratorOptions:
    return GeneratorOptions(base_url=server.base_url, api_key_env=KEY_ENV, max_retries=0, **extra)


def test_dall_e_3_asks_for_base64_and_returns_the_drawn_image(server):
    generator = open_generator("openai:dall-e-3", options(server))
    assert isinstance(generator, ImageGenerator) and generator.price_per_image == 0.04
    image = generator.generate("a red cube and a blue sphere", seed=5)
    assert image.mode == "RGB" and image.size == (256, 256)
    assert [(b.color, b.shape) for b in analyse(image)] == [("red", "cube"), ("blue", "sphere")]
    assert image.info[REVISED_PROMPT] == "a red cube and a blue sphere (as drawn)"
    body = server.image_requests()[-1].json
    assert body["response_format"] == "b64_json" and body["quality"] == "standard"
    assert server.image_requests()[-1].headers["authorization"] == "Bearer sk-test"


def test_gpt_image_1_never_sends_response_format_and_has_its_own_prices(server):
    generator = open_generator("openai:gpt-image-1", options(server, size="1024x1536", quality="high"))
    assert generator.price_per_image == 0.25
    generator.generate("a green ball", seed=0)
    body = server.image_requests()[-1].json
    assert "response_format" not in body and body["quality"] == "high" and body["size"] == "1024x1536"


def test_price_table():
    assert image_price("dall-e-3", None, None) == 0.04
    assert image_price("dall-e-3", "hd", "1792x1024") == 0.12
    assert image_price("gpt-image-1", None, "1024x1024") == 0.042
    assert image_price("gpt-image-1", "low", "1536x1024") == 0.016
    assert image_price("dall-e-3", "hd", "512x512") is None
    assert image_price("my-model", None, None) is None


def test_unknown_prices_need_an_explicit_price(server):
    with pytest.raises(GeneratorError, match="--image-price"):
        open_generator("openai:flux-on-my-server", options(server))
    free = open_generator("openai:flux-on-my-server", options(server, price_per_image=0.0))
    assert free.price_per_image == 0.0


def test_a_refused_prompt_and_an_unreachable_service_are_told_apart(server):
    generator = OpenAIImageGenerator("dall-e-3", options(server))
    server.refuse_words = {"forbidden"}
    with pytest.raises(PromptRejected, match="refused the prompt"):
        generator.generate("a forbidden cube", seed=0)
    server.route("POST", "/v1/images/generations", lambda request: error_reply(500, "overloaded"))
    with pytest.raises(GeneratorError, match="InternalServerError") as info:
        generator.generate("a cube", seed=0)
    assert not isinstance(info.value, PromptRejected)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("dall-e-3", "expected openai:MODEL"),
        ("sdxl:base", "unknown generator kind"),
        ("plugin:nomodule", "bad plugin"),
    ],
)
def test_bad_generator_specs(spec, message):
    with pytest.raises(GeneratorError, match=message):
        open_generator(spec)


class SolidGenerator:
    """A plugin generator: one flat colour per prompt length."""

    name = "plugin:solid"
    price_per_image = 0.001

    def generate(self, prompt: str, seed: int) -> Image.Image:
        return Image.new("RGB", (16, 16), (len(prompt) % 256, seed % 256, 0))


def make_solid(options: GeneratorOptions) -> SolidGenerator:
    return SolidGenerator()


def make_nothing(options: GeneratorOptions) -> object:
    return object()


def test_plugins_are_loaded_by_module_and_name():
    generator = open_generator("plugin:tests.test_t2i_generators:make_solid")
    assert generator.generate("abc", 7).getpixel((0, 0)) == (3, 7, 0)
    with pytest.raises(GeneratorError, match="did not return an ImageGenerator"):
        open_generator("plugin:tests.test_t2i_generators:make_nothing")
    with pytest.raises(GeneratorError, match="cannot import"):
        open_generator("plugin:tests.no_such_module:make")


def test_png_metadata_round_trip_and_atomic_write(tmp_path):
    path = tmp_path / "images" / "t2i-i000-00.png"
    save_png(Image.new("RGB", (8, 8), (1, 2, 3)), path, {"prompt": "a cube", "seed": "4"})
    assert read_png_metadata(path) == {"prompt": "a cube", "seed": "4"}
    assert [p.name for p in path.parent.iterdir()] == ["t2i-i000-00.png"]
    assert read_png_metadata(tmp_path / "missing.png") is None
    (tmp_path / "cut.png").write_bytes(path.read_bytes()[:40])
    assert read_png_metadata(tmp_path / "cut.png") is None


# --- a real diffusers pipeline ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    pytest.importorskip(
        "diffusers", reason="the diffusers extra is not installed: pip install -e '.[diffusers]'"
    )
    from tests.t2i_fixtures import make_tiny_sd_dir

    return make_tiny_sd_dir(tmp_path_factory.mktemp("tiny-sd"))


def test_diffusers_pipeline_from_a_local_directory_is_seeded(tiny_sd):
    generator = open_generator(f"diffusers:{tiny_sd}", GeneratorOptions(steps=2, size="32x32", device="cpu"))
    assert generator.price_per_image == 0.0 and generator.name == f"diffusers:{tiny_sd}"
    first = generator.generate("a red cube", seed=1)
    assert first.size == (32, 32) and first.mode == "RGB"
    assert first.tobytes() == generator.generate("a red cube", seed=1).tobytes()
    assert first.tobytes() != generator.generate("a red cube", seed=2).tobytes()
    assert first.tobytes() != generator.generate("a blue sphere", seed=1).tobytes()


def test_diffusers_errors_are_one_line(tmp_path, tiny_sd):
    with pytest.raises(GeneratorError, match="cannot load diffusers pipeline from directory"):
        open_generator(f"diffusers:{tmp_path}")


def test_a_t2i_run_on_the_local_diffusers_pipeline(tmp_path, server, tiny_sd):
    runs = tmp_path / "runs"
    local = [
        "--generator",
        f"diffusers:{tiny_sd}",
        "--steps",
        "2",
        "--image-size",
        "32x32",
        "--device",
        "cpu",
    ]
    assert t2i(runs, "t2i", "a red cube", "--iterations", "1", *local, *endpoints(server)) == 0
    run_dir = only_run(runs)
    images = sorted((run_dir / "images").glob("*.png"))
    assert len(images) == 3 and not server.image_requests()
    with Image.open(images[0]) as image:
        assert image.size == (32, 32) and image.text["generator"] == f"diffusers:{tiny_sd}"
