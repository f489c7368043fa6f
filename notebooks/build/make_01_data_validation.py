"""Builds notebooks/01_data_validation.ipynb (saved without outputs; the test suite executes it).

Run from the repository root: python notebooks/build/make_01_data_validation.py
"""

from __future__ import annotations

from pathlib import Path

from nbbuild import write  # notebooks/build/, on sys.path when run as a script

OUT = Path(__file__).resolve().parents[1] / "01_data_validation.ipynb"

CELLS: list[tuple[str, str]] = [
    (
        "md",
        "# 01 · Data validation\n\nA trial statistician's first look at a data delivery: ingest the six trusts' "
        "extracts of the shipped synthetic trial, read the manifest (do the counts add up?), read the queries "
        "raised for the sites, look at what was quarantined, then derive the analysis dataset.\n\n"
        "Everything here is also available on the command line: `odtrial ingest SRC --out FREEZE`.",
    ),
    (
        "code",
        "import json\nimport tempfile\nfrom pathlib import Path\n\nimport pandas as pd\n\nimport odtrial\n"
        "from odtrial.paths import shipped_trial_dir\n\n"
        "src = shipped_trial_dir()\nwork = Path(tempfile.mkdtemp(prefix='odtrial-nb01-'))\n"
        "print('source:', src)\nprint('odtrial', odtrial.__version__)",
    ),
    (
        "md",
        "## The trial configuration\nOne TOML file describes the trusts, catchments (strata), clusters of GP "
        "practices and each trust's extract dialect.",
    ),
    (
        "code",
        "trial = odtrial.load_trial(src / 'trial.toml')\n"
        "pd.DataFrame([(t.id, t.name) for t in trial.trusts], columns=['trust', 'name'])",
    ),
    (
        "code",
        "pd.DataFrame([(t, tb, s.format, s.encoding, s.delimiter, s.date_format, s.pattern)\n"
        "              for t, specs in trial.extracts.items() for tb, s in specs.items()],\n"
        "             columns=['trust', 'table', 'format', 'encoding', 'delimiter', 'date format', 'pattern'])",
    ),
    (
        "md",
        "## Ingest\nRead, map to canonical tables, validate, pseudonymise, freeze. The pseudonym key of the "
        "synthetic trial is its documented test key; a real trial reads it from an environment variable.",
    ),
    ("code", "report = odtrial.ingest(src, work / 'freeze')\nreport"),
    (
        "md",
        "## The manifest: nothing dropped silently\nFor every input file, rows read = rows accepted + rows quarantined.",
    ),
    (
        "code",
        "manifest = json.loads((work / 'freeze' / 'manifest.json').read_text())\n"
        "inputs = pd.DataFrame(manifest['inputs'])\n"
        "assert (inputs.rows_read == inputs.rows_accepted + inputs.rows_quarantined).all()\n"
        "inputs[['path', 'rows_read', 'rows_accepted', 'rows_quarantined']]",
    ),
    ("code", "pd.DataFrame(manifest['outputs'])[['path', 'rows']]"),
    (
        "md",
        "## Queries to send back to the sites\nOne row per problem; identifiers are masked. Errors quarantined "
        "the row; warnings kept it.",
    ),
    (
        "code",
        "queries = pd.read_csv(work / 'freeze' / 'queries.csv', dtype=str)\n"
        "queries.groupby(['severity', 'rule']).size().rename('queries').to_frame()",
    ),
    ("code", "pd.crosstab(queries.trust, queries.severity, margins=True)"),
    ("code", "queries.head(10)"),
    ("code", "sorted(p.name for p in (work / 'freeze' / 'queries').iterdir())"),
    ("md", "## What was quarantined"),
    (
        "code",
        "from odtrial.data.freeze import read_freeze\n\nfreeze = read_freeze(work / 'freeze')\n"
        "q = pd.read_parquet(work / 'freeze' / 'quarantine' / 'participants.parquet')\nq.head()",
    ),
    (
        "md",
        "## The analysis dataset\nOne row per participant: the outcomes and variables the "
        "analysis plan defines (`[outcomes]`, `[variables]`), each derived from the frozen tables "
        "by a generic derivation kind, over the plan's 24-month window.",
    ),
    (
        "code",
        "from odtrial.paths import shipped_plan\n\n"
        "ds = odtrial.derive(work / 'freeze', shipped_plan())\n"
        "print(len(ds), 'participants')\n"
        "ds.groupby('arm')[['work_study_24m', 'any_admission', 'bed_days', 'any_antipsychotic']].mean(numeric_only=False)",
    ),
    (
        "code",
        "ds['work_study_24m'].isna().groupby(ds['arm']).mean().rename('missing at 24 months')",
    ),
]


if __name__ == "__main__":
    write(CELLS, "nb01", OUT)
