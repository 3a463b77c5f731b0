"""Heavy objects of a text-to-image run, injected through LangGraph's runtime context (never the state).

Rebuilt from the run's saved T2IConfig on every start and resume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from promptclimb.evaluators.images import inside
from promptclimb.graph.t2i.state import T2IConfig

if TYPE_CHECKING:  # annotations only: reading a run back (show, list) loads no critic nor generator stack
    from promptclimb.evaluators.t2i.critics import Critic
    from promptclimb.evaluators.t2i.generators import ImageGenerator
    from promptclimb.evaluators.t2i.scores import Judge

REFERENCE_FILE = "reference.png"  # the reference image, copied into the run directory at creation
IMAGES_DIR = "images"


@dataclass
class T2IContext:
    config: T2IConfig
    run_dir: Path
    generator: ImageGenerator
    critic: Critic
    judge: Judge
    log: list[str] = field(default_factory=list)  # notable events for run.log (the session writes them)

    @property
    def reference(self) -> str | None:
        """The run-relative path of the reference image, for invert and personalize."""
        return REFERENCE_FILE if self.config.kind in ("invert", "personalize") else None

    def path(self, relative: str) -> Path:
        return inside(self.run_dir, relative)  # names built from checkpointed state stay in the run
