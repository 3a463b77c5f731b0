"""What a run directory may choose, for every command that rebuilds a run from its files.

A run directory is shared like a notebook: its config.json is someone else's choice. Keys go only where the
user sent them (``--trust-run-llm`` lifts that), and only the user picks code or checkpoint files to load
(``--trust-run-plugin``). ``resume`` checks both; ``replay``, ``report``, ``export``, ``transfer`` and
``rewind`` load no LLM endpoint and check the second. Bench cells run the suite file's configuration, which
the user gave (a cell whose config.json differs is refused), so they need neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from promptclimb.llm.credentials import require_consent
from promptclimb.session.kinds import Kind


@dataclass(frozen=True)
class Trust:
    """The user's consent flags: --trust-run-llm and --trust-run-plugin."""

    llm: bool = False
    plugin: bool = False


def check_code_consent(kind: Kind, config: Any, trust: Trust) -> None:
    """ConsentNeeded when the run's config.json names a plugin or a checkpoint file to load."""
    if not trust.plugin:
        require_consent(kind.code_reasons(config), "--trust-run-plugin", kind.code_hint)


def check_consent(kind: Kind, config: Any, given: dict[str, Any], trust: Trust) -> None:
    """Both gates of a resume: credentials to the run's endpoints, then code the run would load."""
    if not trust.llm:
        require_consent(kind.endpoint_reasons(config, given), "--trust-run-llm", kind.endpoint_hint)
    check_code_consent(kind, config, trust)
