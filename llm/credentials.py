"""Where credentials may go.

A key goes only where the user sent it: the provider's own API for its usual variable, or a server the user
named together with a variable on the command line. A run directory is shared like a notebook, so endpoints,
key variables and plugins read from its config.json are someone else's choice until the user consents.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from promptclimb.errors import UserError

# Hosts that may receive OPENAI_API_KEY without the user naming the variable: OpenAI's own API.
OPENAI_HOSTS = frozenset({"api.openai.com"})


def host_of(url: str | None) -> str:
    """The host a base URL points at ("api.openai.com" for the default endpoint)."""
    if not url:
        return "api.openai.com"
    return (urlsplit(url if "//" in url else f"//{url}").hostname or url).lower()


def _host_port(url: str | None) -> str:
    """HOST[:PORT] of a base URL, for messages: on loopback the port is what tells two servers apart."""
    host = host_of(url)
    try:
        port = urlsplit(url if url and "//" in url else f"//{url}").port
    except ValueError:  # a port that is not a number
        port = None
    return f"{host}:{port}" if port else host


def sends_default_openai_key(base_url: str | None) -> bool:
    """Whether OPENAI_API_KEY may go to this endpoint unasked: only to OpenAI itself, never a third party."""
    return base_url is None or host_of(base_url) in OPENAI_HOSTS


def untrusted_endpoint(what: str, base_url: str | None, key_env: str | None, default_env: str) -> str | None:
    """Why an endpoint/key pair read from a run's files needs the user's consent (None: it does not).

    Loopback is no exception: any local user may listen on another port of this machine and harvest the key.
    """
    if base_url is None and key_env is None:
        return None  # the provider's usual variable to the provider's own API: the user's environment
    variable = key_env or (default_env if sends_default_openai_key(base_url) else None)
    sent = f"${variable}" if variable else "requests"
    return f"{what}: {sent} would be sent to {_host_port(base_url)}"


class ConsentNeeded(UserError, ValueError):
    """A run's files chose where a credential goes, or which code runs; the user has not agreed."""


def endpoint_needs_consent(
    what: str,
    base_url: str | None,
    key_env: str | None,
    default_env: str,
    from_user: set[str],
) -> str | None:
    """``untrusted_endpoint`` for a resumed run whose ``base_url``/``key_env`` the user may have given anew.

    ``from_user`` holds "base_url" and/or "key_env" when the user gave them on this command line: only what
    still comes from the run's files needs consent.
    """
    if {"base_url", "key_env"} <= from_user:
        return None
    return untrusted_endpoint(what, base_url, key_env, default_env)


def require_consent(reasons: list[str], flag: str, hint: str) -> None:
    """Raise ConsentNeeded (one line) naming every host and variable, unless ``reasons`` is empty."""
    if reasons:
        raise ConsentNeeded(
            f"this run's config.json chooses it: {'; '.join(reasons)}. Pass {flag} if you trust this run, "
            f"or {hint}"
        )


def llm_file_reason(llm: str, given_anew: bool) -> str | None:
    """A model or replies file named by a run's config.json (gguf:PATH, scripted:PATH) is the run's choice
    of a file to load; --llm given anew is the user's."""
    provider, _, target = llm.partition(":")
    # the backends' own rule (llm/backends.py): scripted: and scripted:delay=S read no file, any other
    # target is a path (one with "=" in it too)
    reads_file = provider == "gguf" or (provider == "scripted" and not target.startswith("delay="))
    if given_anew or not reads_file or not target:
        return None
    return f"LLM {llm} would load the file {target}"
