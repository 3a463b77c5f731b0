"""promptclimb: a chat LLM as a black-box optimizer of prompts for vision-language models.

The package's sub-packages live in the repository's top-level folders (``graph/``, ``nodes/``,
``evaluators/``, ``prompts/``, ``llm/``, ``cli/``, ``results/``) and install under this one name through
pyproject.toml's package-dir mapping, so nothing claims a generic top-level import name.
"""

__version__ = "0.2.0"
