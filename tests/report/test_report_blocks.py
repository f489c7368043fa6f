from __future__ import annotations

import docx
import numpy as np
import pandas as pd

from odtrial.report.consort import draw_consort, flow_from_dataset
from odtrial.report.forest import Effect, draw_forest
from odtrial.report.tables import ReportTable, add_table_to_docx, table_to_html


def _table() -> ReportTable:
    body = pd.DataFrame(
        {
            "Outcome": ["Work or study{a}", "Admission"],
            "OR (95% CI)": ["1.60 (1.1 to 2.3)", "0.70 (0.5 to 1.0)"],
        }
    )
    return ReportTable(
        3,
        "Primary and secondary outcomes",
        body,
        footnotes=("Adjusted for catchment.",),
        abbreviations="OR, odds ratio.",
    )


def test_table_html_has_lettered_footnotes():
    h = table_to_html(_table())
    assert "<b>Table 3</b>" in h and "Work or study<sup>a</sup>" in h
    assert "<p class='fn'><sup>a</sup> Adjusted for catchment.</p>" in h


def test_table_docx_is_an_editable_table(tmp_path):
    d = docx.Document()
    add_table_to_docx(d, _table())
    d.save(tmp_path / "t.docx")
    back = docx.Document(tmp_path / "t.docx")
    (t,) = back.tables
    assert [c.text for c in t.rows[0].cells] == ["Outcome", "OR (95% CI)"]
    assert t.rows[1].cells[0].text == "Work or studya"
    assert any(r.font.superscript for r in t.rows[1].cells[0].paragraphs[0].runs)
    texts = [p.text for p in back.paragraphs]
    assert (
        "Table 3 Primary and secondary outcomes" in texts and "a Adjusted for catchment." in texts
    )


def test_consort_counts_come_from_the_data():
    rng = np.random.default_rng(1)
    clusters = pd.DataFrame({"cluster_id": [f"C{i}" for i in range(6)], "arm": ["POD", "TAU"] * 3})
    ds = pd.DataFrame({"cluster_id": rng.choice(clusters.cluster_id[:5], 100)})
    ds["arm"] = ds.cluster_id.map(clusters.set_index("cluster_id").arm)
    ds["y"] = np.where(rng.random(100) < 0.2, np.nan, 1.0)
    ds.loc[ds.cluster_id == "C4", "y"] = np.nan  # a cluster with nobody followed up
    flow = flow_from_dataset(
        ds,
        clusters,
        outcome="y",
        arm_labels={"POD": "A", "TAU": "B"},
        arm_order=("POD", "TAU"),
        outcome_label="y",
    )
    a, b = flow.arms
    assert flow.clusters_randomised == 6
    for arm, code in ((a, "POD"), (b, "TAU")):
        people = ds[ds.arm == code]
        assert arm.recruited == len(people) == arm.analysed + arm.lost
        assert arm.randomised_clusters == 3
    assert a.lost_clusters == 1 and a.analysed_clusters == 2  # C4: nobody followed up
    assert b.cluster_sizes[-1] == 0 and b.lost_clusters == 1  # C5 recruited nobody
    fig = draw_consort(flow)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert f"individuals n = {a.recruited}" in texts and "Clusters randomised (n = 6)" in texts


def test_forest_separates_ratios_and_differences():
    fig = draw_forest([Effect("x", "OR", 1.5, 1.1, 2.0), Effect("d", "MD", -2.0, -4.0, 0.5)])
    assert len(fig.axes) == 2
    assert fig.axes[0].get_xscale() == "log" and fig.axes[1].get_xscale() == "linear"
