"""promptclimb: a chat LLM as a black-box optimizer of prompts for vision-language models.

The package's sub-packages live in the repository's top-level folders (``graph/``, ``nodes/``,
``evaluators/``, ``prompts/``, ``llm/``, ``cli/``, ``results/``) and install under this one name through
pyproject.toml's package-dir mapping, so nothing claims a generic top-level import name.
"""

__version__ = "0.2.0"


def _source_checkout_path() -> None:
    """Imported from a source checkout (``python -m promptclimb`` in the repository root, where the current
    directory shadows the installed link tree), the sub-packages are the folders beside this one."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    checkout = (root / "pyproject.toml").is_file() and (root / "cli" / "main.py").is_file()
    if checkout and str(root) not in __path__:
        __path__.append(str(root))


_source_checkout_path()
