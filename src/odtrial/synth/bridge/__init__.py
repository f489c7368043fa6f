"""The synthetic BRIDGE trial: a second, structurally different cluster trial.

``generate(out, seed=20250331, participants=360, fault_rate=0.01)`` writes a two-arm
cluster randomised trial of collaborative care (CC) against usual care (UC) for
depression in primary care. It differs from the POD trial (:mod:`odtrial.synth`) in
every way the trial definition can express:

- Design: 3 sites (integrated care boards) with 2 localities each (the strata,
  ``[[strata]]``, column ``locality``); 24 clusters that are single GP practices (no
  practice lists, no IMD), balanced on ``practice_size`` only, 2:2 within locality by
  :func:`odtrial.randomise.constrained`; the record ships in ``randomisation/``.
- Participants keyed by a study record id (``record_id``) with an optional NHS number;
  baseline PHQ-9 total and prior antidepressant use on the participants table.
- Tables ``phq9`` (research interviews at 3, 12 and 24 months, windows 30/60/60 days,
  items q1..q9, linked by record id) and ``scripts`` (GP prescribing linked by NHS
  number, antidepressants and other drugs from the shipped medication dictionary).
- Extracts: a REDCap CSV export (UTF-8 with BOM, event names as visits, raw codes) and a
  GP-system CSV (Windows-1252, CRLF, dd/mm/yyyy) at GM; Excel workbooks at BNSSG (which
  records no interview mode: a constant); SPSS files at NENC (codes without and with value
  labels), which sends no prescribing.
- The generating model (:mod:`odtrial.synth.bridge.outcomes`): PHQ-9 totals by a linear
  mixed model per visit (CC effect -1.5, -2.0, -1.0 points at 3, 12, 24 months) spread
  over the items; any antidepressant issued in the first 12 months by a logistic mixed
  model (odds ratio 1.6 for CC); intermittent missed interviews at random given arm and
  baseline PHQ-9.
- Faults at ``fault_rate``, each named by the rule code that must find it and listed in
  ``truth.json`` with its file and source row (:mod:`odtrial.synth.bridge.faults`).
"""

from __future__ import annotations

from odtrial.synth.bridge.generate import (
    DEFAULT_FAULT_RATE,
    DEFAULT_PARTICIPANTS,
    DEFAULT_SEED,
    MIN_PARTICIPANTS,
    generate,
)

__all__ = [
    "DEFAULT_FAULT_RATE",
    "DEFAULT_PARTICIPANTS",
    "DEFAULT_SEED",
    "MIN_PARTICIPANTS",
    "generate",
]
