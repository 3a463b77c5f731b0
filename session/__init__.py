"""A run's life, for both kinds of run (classification and text-to-image).

The CLI parses and prints; ``bench``, ``replay`` and the suite's cells call this package, which starts,
resumes, drives and reads back runs:

    kinds.py      the small table of what differs between classification and text-to-image
    driver.py     the kind-neutral driver: stream the graph, prune its history, record how it ended
    lifecycle.py  start and resume (overrides, consent, data check), with the models open while it drives
    consent.py    what a run directory may choose (credentials, code) and the flags that lift each refusal
    classify.py   a classification run's inputs, models and context
    t2i.py        a text-to-image run's inputs, models and context
    planning.py   the dry run: planned calls and evaluations, and their cost
    readback.py   a run read back for show, list, report, export, transfer, replay and rewind
    tracking.py   optional MLflow tracking of a run (--track): params, metrics per step, artifacts
    replay.py     a run re-driven from its stored LLM replies
    cells.py      a benchmark suite's cells, run with shared models (results/suite_spec.py describes them)
    distributed.py the same cells as Ray tasks
"""
