"""The third synthetic trial, STEADY: a REDCap project (not real data).

A cluster randomised trial of a strength and balance exercise programme (EX)
against usual care (UC) for residents of care homes: 18 care homes (clusters)
in three sites, each site a REDCap data access group, randomised 3:3 within
site balancing the number of beds. The project has three events (baseline, 6
and 12 months), a repeating instrument (the falls log), checkboxes, a matrix of
numbered choices (the Short FES-I), required fields with branching logic (one
that odtrial cannot evaluate) and identifiers (names, NHS number, date of birth).
Its exports are what ``odtrial init`` reads; :mod:`.generate` injects one fault
of each kind in :data:`.generate.FAULT_KINDS` and records it in ``truth.json``.
"""
