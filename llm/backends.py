"""Chat backends: every provider is a LangChain BaseChatModel behind the same ChatBackend record.

``spec`` is "provider:model":

- ``local:NAME`` (default ``local:qwen2.5-coder-1.5b``) and ``gguf:/path/model.gguf``: the embedded
  llama.cpp server (llm/server.py), reached through ChatOpenAI like any OpenAI-compatible server;
- ``scripted:``, ``scripted:delay=SECONDS`` and ``scripted:/path/replies.jsonl``: the deterministic fake
  model (llm/scripted.py), the second with an injected latency per call;
- a third-party plugin: entry-point group ``promptclimb.llm_backends``, name = provider, value = a factory
  ``(model: str, **options) -> BaseChatModel`` (docs/llm-backends.md);
- any provider LangChain's ``init_chat_model`` knows (openai, anthropic, ...; their packages are optional);
- ``openai:MODEL`` with ``base_url``: any OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio).

Our own retry loop (llm/proposer.py) is the only one: provider clients get ``max_retries=0``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from langchain_core.language_models import BaseChatModel

from promptclimb.llm.credentials import sends_default_openai_key
from promptclimb.llm.deadline import deadline_client
from promptclimb.llm.errors import BackendError, one_line
from promptclimb.llm.models import DEFAULT_MODEL, model_path
from promptclimb.llm.pricing import ModelPrice, PriceFileError, price_for
from promptclimb.llm.ratelimit import RateLimiter, env_limits, shared_limiter

Structured = Literal["json_schema", "json_object_schema", "none"]

DEFAULT_SPEC = f"local:{DEFAULT_MODEL}"
ENTRY_POINT_GROUP = "promptclimb.llm_backends"
BUILTIN_PROVIDERS = ("local", "gguf", "scripted")
_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
# Output budget per requested template for the embedded server, where tokens cost seconds. The grammar
# allows up to 80 characters each side of the slot; odd text from a small model tokenizes at ~2 chars/token.
_EMBEDDED_TOKENS_PER_TEMPLATE = 80

__all__ = ["BackendError", "ChatBackend", "DEFAULT_SPEC", "ENTRY_POINT_GROUP", "open_backend"]


@dataclass
class ChatBackend:
    """A chat model plus what the proposer needs to know about it."""

    model: BaseChatModel
    name: str  # "provider:model", as recorded in LLMCall.model
    structured: Structured = "none"  # how to ask for {"templates": [...]}
    price: ModelPrice | None = None  # None: unknown, costs are recorded as 0
    supports_seed: bool = False  # accepts an OpenAI-style per-request `seed`
    base_url: str | None = None  # where the server is, for messages
    max_tokens_per_template: int | None = None  # cap output tokens (None: the provider's default)
    process_id: int | None = None  # the embedded server's PID (None: not ours to run)
    limiter: RateLimiter | None = None  # shared by every backend of this endpoint in the process


def split_spec(spec: str) -> tuple[str, str]:
    provider, colon, model = spec.partition(":")
    if not colon or not provider:
        raise BackendError(
            f"LLM spec '{spec}' is not provider:model "
            "(e.g. openai:gpt-4o-mini, local:smollm2-135m, scripted:)"
        )
    return provider.strip().lower(), model.strip()


@contextmanager
def open_backend(
    spec: str | None,
    *,
    base_url: str | None = None,
    api_key_env: str | None = None,
    temperature: float = 1.0,
    timeout_s: float = 120.0,
    rpm: float | None = None,
    tpm: float | None = None,
) -> Iterator[ChatBackend]:
    """Open the chat backend named by ``spec`` (None: the embedded default) for the ``with`` block.

    ``rpm`` / ``tpm``: requests and tokens per minute for this endpoint, shared by every backend of it in
    the process (llm/ratelimit.py); None: $PROMPTCLIMB_LLM_RPM / $PROMPTCLIMB_LLM_TPM for remote providers.
    Raises BackendError (one line) when it cannot be opened. Local servers are stopped on exit.
    """
    provider, model = split_spec(spec or DEFAULT_SPEC)
    if base_url and provider in BUILTIN_PROVIDERS:
        raise BackendError(
            f"--llm-base-url applies to OpenAI-compatible servers (openai:MODEL), not {provider}:"
        )
    if provider in ("local", "gguf"):
        with _embedded_backend(provider, model, temperature=temperature, timeout_s=timeout_s) as backend:
            # One request at a time: the server serializes them anyway (llm/ratelimit.py says why).
            backend.limiter = shared_limiter(provider, backend.base_url, rpm, tpm, concurrency=1)
            yield backend
        return
    if provider == "scripted":
        backend = _scripted_backend(model)
        if rpm or tpm:  # only when asked: the tests of the limiter itself
            backend.limiter = shared_limiter(provider, None, rpm, tpm)
        yield backend
        return
    if rpm is None and tpm is None:
        rpm, tpm = env_limits()
    limiter = shared_limiter(provider, base_url, rpm, tpm)
    if not model:
        raise BackendError(f"LLM spec '{spec}' names no model (e.g. {provider}:MODEL)")
    price = _price(provider, model)
    plugin = find_plugin(provider)
    if plugin is not None:
        chat = _plugin_model(plugin, model, base_url, api_key_env, temperature, timeout_s)
        yield ChatBackend(chat, name=f"{provider}:{model}", price=price, base_url=base_url, limiter=limiter)
    elif provider == "openai" or base_url:
        backend = _openai_backend(provider, model, base_url, api_key_env, temperature, timeout_s, price)
        backend.limiter = limiter
        yield backend
    else:
        chat = _langchain_model(provider, model, api_key_env, temperature, timeout_s)
        yield ChatBackend(chat, name=f"{provider}:{model}", price=price, limiter=limiter)


def _price(provider: str, model: str) -> ModelPrice | None:
    try:
        return price_for(provider, model)
    except PriceFileError as exc:
        raise BackendError(str(exc)) from None


def _api_key(provider: str, api_key_env: str | None, *, required: bool) -> str | None:
    """The key named by --llm-api-key-env, or the provider's usual variable (checked, not read)."""
    if api_key_env:
        value = os.environ.get(api_key_env)
        if not value:
            raise BackendError(f"environment variable {api_key_env} (named by --llm-api-key-env) is not set")
        return value
    default_env = _KEY_ENV.get(provider)
    if required and default_env and not os.environ.get(default_env):
        raise BackendError(
            f"{provider} needs an API key: set {default_env}, or name another variable with --llm-api-key-env"
        )
    return None


def _openai_backend(
    provider: str,
    model: str,
    base_url: str | None,
    api_key_env: str | None,
    temperature: float,
    timeout_s: float,
    price: ModelPrice | None,
) -> ChatBackend:
    if provider != "openai":
        raise BackendError(
            "--llm-base-url talks to OpenAI-compatible servers: "
            f"write the spec as openai:{model}, not {provider}:"
        )
    from langchain_openai import ChatOpenAI

    key = _api_key(provider, api_key_env, required=base_url is None)
    if key is None and base_url is not None:
        # OPENAI_API_KEY is for OpenAI: a third-party server gets it only when named by --llm-api-key-env.
        # Local servers (vLLM, Ollama, llama.cpp) take any key, but the client insists on one.
        default = os.environ.get("OPENAI_API_KEY") if sends_default_openai_key(base_url) else None
        key = default or "not-needed"
    try:
        chat = ChatOpenAI(
            model=model,
            base_url=base_url,
            api_key=key,
            temperature=temperature,
            timeout=timeout_s,
            max_retries=0,
            http_client=deadline_client(timeout_s),  # timeout_s bounds the whole reply, not each read
        )
    except Exception as exc:  # pydantic or client validation: surface as one line
        raise BackendError(f"openai:{model}: {one_line(exc)}") from None
    return ChatBackend(
        chat,
        name=f"openai:{model}",
        # OpenAI itself supports json_schema; unknown compatible servers often do not, so ask in text.
        structured="none" if base_url else "json_schema",
        price=price,
        supports_seed=True,
        base_url=base_url,
    )


def _langchain_model(
    provider: str, model: str, api_key_env: str | None, temperature: float, timeout_s: float
) -> BaseChatModel:
    from langchain.chat_models import init_chat_model

    key = _api_key(provider, api_key_env, required=False)
    options = {"temperature": temperature, "timeout": timeout_s, "max_retries": 0}
    if key:
        options["api_key"] = key
    try:
        chat = init_chat_model(model, model_provider=provider, **options)
    except ImportError as exc:
        package = re.search(r"pip install (?:-U )?([\w.-]+)", str(exc))
        hint = f"pip install {package.group(1)}" if package else "install its LangChain integration package"
        raise BackendError(f"LLM provider '{provider}' needs an optional package: {hint}") from None
    except ValueError as exc:
        if "Unsupported" in str(exc):
            raise BackendError(
                f"unknown LLM provider '{provider}': use openai:, anthropic:, local:, gguf:, scripted:, "
                f"another LangChain provider, or a plugin (entry point group {ENTRY_POINT_GROUP})"
            ) from None
        _api_key(provider, api_key_env, required=True)  # a missing key is the likeliest cause: say so
        raise BackendError(f"{provider}:{model}: {one_line(exc)}") from None
    except Exception as exc:
        _api_key(provider, api_key_env, required=True)
        raise BackendError(f"{provider}:{model}: {one_line(exc)}") from None
    _api_key(provider, api_key_env, required=True)  # some clients only notice at the first request
    return chat


def find_plugin(provider: str) -> metadata.EntryPoint | None:
    """The installed entry point providing this provider name, if any."""
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name == provider:
            return entry_point
    return None


def _plugin_model(
    entry_point: metadata.EntryPoint,
    model: str,
    base_url: str | None,
    api_key_env: str | None,
    temperature: float,
    timeout_s: float,
) -> BaseChatModel:
    options: dict[str, object] = {"temperature": temperature, "timeout": timeout_s}
    if base_url:
        options["base_url"] = base_url
    key = _api_key(entry_point.name, api_key_env, required=False)
    if key:
        options["api_key"] = key
    where = f"LLM backend plugin '{entry_point.name}' ({entry_point.value})"
    try:
        factory = entry_point.load()
        chat = factory(model, **options)
    except Exception as exc:
        raise BackendError(f"{where} failed: {type(exc).__name__}: {one_line(exc)}") from None
    if not isinstance(chat, BaseChatModel):
        raise BackendError(f"{where} returned {type(chat).__name__}, not a LangChain BaseChatModel")
    return chat


def _scripted_backend(source: str) -> ChatBackend:
    from promptclimb.llm.scripted import ScriptedChatModel, env_delay, parse_delay

    price = price_for("scripted", "")
    delay_s = env_delay()
    if source.startswith("delay="):  # scripted:delay=SECONDS: generated replies, each after a pause
        delay_s += parse_delay(source.removeprefix("delay="), "scripted:delay=")
    elif source:
        path = Path(source).expanduser()
        if not path.is_file():
            raise BackendError(
                f"scripted replies file not found: {path} (use scripted: alone for generated replies)"
            )
        chat = ScriptedChatModel.from_file(path)
        chat.delay_s = delay_s
        return ChatBackend(chat, name=f"scripted:{path}", price=price)
    chat = ScriptedChatModel(delay_s=delay_s)
    return ChatBackend(chat, name=f"scripted:{source}", price=price, supports_seed=True)


@contextmanager
def _embedded_backend(
    provider: str, model: str, *, temperature: float, timeout_s: float
) -> Iterator[ChatBackend]:
    from langchain_openai import ChatOpenAI

    from promptclimb.llm.server import EmbeddedServer

    if provider == "local":
        name = model or DEFAULT_MODEL
        path, alias = model_path(name), name
    else:
        if not model:
            raise BackendError("gguf: needs a file, e.g. gguf:/path/model.gguf")
        path = Path(model).expanduser()
        if not path.is_file():
            raise BackendError(f"GGUF model file not found: {path}")
        name, alias = str(path), path.stem
    with (
        EmbeddedServer(path, alias=alias) as server,
        deadline_client(timeout_s, trust_env=False) as http_client,
    ):
        # trust_env=False: a proxy configured for the internet must not intercept loopback traffic.
        # Before each request: restart a dead or bloated server, and follow it (llm/server.py).
        http_client.event_hooks["request"].append(server.before_request)
        chat = ChatOpenAI(
            model=alias,
            base_url=server.base_url,
            api_key=server.api_key,
            temperature=temperature,
            timeout=timeout_s,
            max_retries=0,
            http_client=http_client,
        )
        yield ChatBackend(
            chat,
            name=f"{provider}:{name}",
            structured="json_object_schema",
            price=price_for(provider, name),
            supports_seed=True,
            base_url=server.base_url,
            max_tokens_per_template=_EMBEDDED_TOKENS_PER_TEMPLATE,
            process_id=server.pid,
        )
