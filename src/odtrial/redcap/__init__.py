"""REDCap projects as odtrial trials.

A REDCap project's standard exports (the data dictionary, the instrument
designations of a longitudinal project, the records as raw codes) and the
randomisation record of its clusters are enough to write a trial definition
that ingests the records export as it is (``odtrial init``, :mod:`.init`):

- :mod:`.dictionary` reads the data dictionary (fields, types, choices,
  validation, identifiers, required flags, branching logic);
- :mod:`.events` reads the instrument designations and gives each event its
  visit month;
- :mod:`.branching` translates branching logic into the conditions of
  :mod:`odtrial.data.conditions` (or says why it cannot);
- :mod:`.records` inspects the records export (its columns, data access
  groups, repeating instruments, and whether it is a labels export);
- :mod:`.clusters` reads the randomisation record and says each cluster's site;
- :mod:`.fields` and :mod:`.tables` plan the fields and tables;
- :mod:`.init` decides the sites, visits and data cut-off and writes a commented
  ``trial.toml`` (:mod:`.render` makes its text); :mod:`.cli` is ``odtrial init``.

Nothing here runs at ingest: the definition it writes uses only generic keys
(``where``/``filled`` row selection, ``required_if``), so a data manager can
read and edit it like any other. See ``docs/redcap.md``.
"""
