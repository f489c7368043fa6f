"""Builds notebooks/04_report.ipynb (saved without outputs; the test suite executes it).

Run from the repository root: python notebooks/build/make_04_report.py
"""

from __future__ import annotations

from pathlib import Path

from nbbuild import write  # notebooks/build/, on sys.path when run as a script

OUT = Path(__file__).resolve().parents[1] / "04_report.ipynb"

CELLS: list[tuple[str, str]] = [
    (
        "md",
        "# 04 · From the analysis plan to the report\n\n"
        "The statistical analysis plan (SAP) is a versioned TOML file that drives the whole analysis. "
        "Here a statistician runs the shipped SAP over a freeze of the synthetic trial, inspects "
        "`results.json`, checks the primary estimate against a direct model fit, regenerates one table "
        "and rebuilds the Word/HTML report. The same job on the command line is `odtrial run`.",
    ),
    (
        "code",
        "import tempfile\nfrom pathlib import Path\n\nimport pandas as pd\n\n"
        "import odtrial\nfrom odtrial.analysis.analyse import analyse\nfrom odtrial.paths import shipped_plan, shipped_trial_dir\n"
        "from odtrial.plan import load_plan\n\n"
        "work = Path(tempfile.mkdtemp(prefix='odtrial-nb04-'))\n"
        "odtrial.ingest(shipped_trial_dir(), work / 'freeze')\n"
        "plan = load_plan(shipped_plan())\n"
        "print(plan.title)\nprint('version', plan.version, plan.status, 'sha256', plan.sha256[:12])",
    ),
    ("md", "## The plan: outcomes, models and estimands"),
    (
        "code",
        "pd.DataFrame([(o.id, o.role, o.type, o.model.kind, o.model.family, ', '.join(o.model.covariates),\n"
        "               o.model.options.get('df', o.model.options.get('variance', '')))\n"
        "              for o in plan.outcomes.values()],\n"
        "             columns=['outcome', 'role', 'type', 'model', 'family', 'covariates', 'inference'])",
    ),
    ("code", "est = plan.estimands[plan.primary.estimand]\nest"),
    (
        "md",
        "## Run the plan\nBlinded by default: the plan is a draft, so arms are shown as A and B and "
        "the allocation is not revealed.",
    ),
    (
        "code",
        "results = analyse(plan, work / 'freeze', work / 'out')\n"
        "print(results['report_type'], [a['code'] for a in results['arms']])\n"
        "pd.DataFrame([{'outcome': o['id'], 'effect': o['effect']['abbrev'], 'estimate': o['effect']['estimate'],\n"
        "               'ci_lower': o['effect']['ci_lower'], 'ci_upper': o['effect']['ci_upper'],\n"
        "               'p': o['effect']['p_value'], 'df': o['effect']['df'],\n"
        "               'singular': o['diagnostics']['singular']} for o in results['outcomes']]).round(4)",
    ),
    (
        "md",
        "## Check the primary estimate against a direct fit\nEvery number in `results.json` can be "
        "reproduced from `analysis_dataset.csv` with `odtrial.models`.",
    ),
    (
        "code",
        "import numpy as np\n\nfrom odtrial.models import fit_glmm\n\n"
        "primary = results['outcomes'][0]\n"
        "print(primary['model']['options'])  # the SAP fits it by REML with between-within df\n"
        "ds = pd.read_csv(work / 'out' / 'analysis_dataset.csv')\n"
        "obs = ds.dropna(subset=['work_study_24m']).astype({'work_study_24m': float, 'baseline_work_study': float})\n"
        "fit = fit_glmm(primary['model']['formula'], obs, cluster='cluster_id', method='REML')\n"
        "assert np.isclose(np.exp(fit.params['treat']), primary['effect']['estimate'], rtol=1e-8)\n"
        "print(fit.summary())",
    ),
    (
        "md",
        "## Regenerate one table\nThe ICC table, rebuilt from `results.json` as an editable report table.",
    ),
    (
        "code",
        "from odtrial.report.tables import ReportTable, table_to_html\n\n"
        "rows = [{'Outcome': o['label'],\n"
        "         'ICC (95% CI)': f\"{o['icc']['estimate']:.3f} ({o['icc']['ci_lower']:.3f} to {o['icc']['ci_upper']:.3f})\",\n"
        "         'Scale': o['icc']['scale']} for o in results['outcomes'] if o.get('icc')]\n"
        "icc_table = ReportTable(5, 'Intracluster correlation coefficient for each outcome', pd.DataFrame(rows),\n"
        "                        footnotes=('Latent scale: cluster variance / (cluster variance + pi^2/3).',))\n"
        "icc_table.body",
    ),
    ("code", "from IPython.display import HTML\n\nHTML(table_to_html(icc_table))"),
    ("md", "## Rebuild the report"),
    (
        "code",
        "from odtrial.report.build import build_report\n\n"
        "paths = build_report(work / 'out' / 'results.json', work / 'out')\n"
        "print(paths.docx.name, paths.docx.stat().st_size, 'bytes')\n"
        "print(paths.html.name, paths.html.stat().st_size, 'bytes')\n"
        "sorted(p.name for p in (work / 'out' / 'tables').iterdir())",
    ),
]


if __name__ == "__main__":
    write(CELLS, "nb04", OUT)
