"""No third-party progress bars or chatter while a model loads: the CLI draws the only progress there is.

transformers' "Loading weights" bar and the Hugging Face hub's download bars write carriage returns to
stderr (into piped logs) and cut through rich's live view; their info-level lines add noise. Both are
switched off for the duration of a load and put back as they were after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_progress_bars() -> Iterator[None]:
    """transformers' and the hub's progress bars off and transformers' logging at errors only, for now."""
    from huggingface_hub import utils as hub
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    hub_was_off = hub.are_progress_bars_disabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()  # also disables the hub's bars (transformers calls it)
    hub.disable_progress_bars()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if not hub_was_off:
            hub.enable_progress_bars()
        if bars_were_on:
            hf_logging.enable_progress_bar()
