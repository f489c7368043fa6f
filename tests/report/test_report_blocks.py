from __future__ import annotations

import dataclasses
import re

import docx
import numpy as np
import pandas as pd

from odtrial.report.consort import (
    LOST_NOTE,
    ArmFlow,
    Flow,
    box_texts,
    draw_consort,
    flow_from_dataset,
)
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
    assert f"Clusters: 3; individuals: {a.recruited}" in texts and "Clusters randomised: 6" in texts
    assert f"Individuals lost to follow-up: {b.lost}" in texts
    assert "Clusters lost to follow-up: 1" in texts


def _flow(lost_clusters: tuple[int, int], excluded: int | None = 0) -> Flow:
    arms = tuple(
        ArmFlow(label=lab, randomised_clusters=8, received_clusters=8, recruited=160,
                received=160, lost_clusters=lc, lost=12 + 20 * lc, analysed_clusters=8 - lc,
                analysed=148 - 20 * lc, cluster_sizes=(20,) * 8, excluded=excluded)
        for lab, lc in zip(("A", "B"), lost_clusters, strict=True)
    )  # fmt: skip
    return Flow(clusters_assessed=None, clusters_randomised=16, arms=arms, outcome_label="y")


def test_consort_boxes_read_as_labelled_counts():
    texts = box_texts(_flow((0, 2)))
    a, b = texts["arms"]
    assert texts["enrolment"] == (
        "Clusters randomised: 16\nIndividuals recruited in randomised clusters: 320"
    )
    assert a["follow-up"] == "Clusters lost to follow-up: 0\nIndividuals lost to follow-up: 12"
    assert b["follow-up"] == "Clusters lost to follow-up: 2\nIndividuals lost to follow-up: 52"
    assert a["allocation"].splitlines() == [
        "Allocated to A",
        "Clusters: 8; individuals: 160",
        "Cluster size: mean 20.0, range 20–20",
        "Received allocated intervention",
        "Clusters: 8; individuals: 160",
    ]
    assert a["analysis"].splitlines() == [
        "Clusters analysed: 8",
        "Individuals analysed: 148",
        "Individuals excluded from analysis: 0",
    ]
    assert (
        "Individuals excluded" not in box_texts(_flow((0, 0), excluded=None))["arms"][0]["analysis"]
    )
    held = dataclasses.replace(_flow((0, 2)), held_back=3)
    assert box_texts(held)["enrolment"].splitlines()[-1] == (
        "Further participant records held back at data validation: 3"
    )
    # every count carries its label: no bare "n = 0", no "(nobody followed up)"
    every = [texts["enrolment"], *(v for arm in texts["arms"] for v in arm.values())]
    for line in (ln for t in every for ln in t.splitlines()):
        assert "n =" not in line and "nobody" not in line, line
        if any(ch.isdigit() for ch in line) and not line.startswith("Cluster size"):
            assert re.fullmatch(r"([A-Z][a-z -]+: \d+)(; [a-z ]+: \d+)?", line), line
    # the drawn figure shows exactly these texts, and says once what "lost" means
    drawn = [t.get_text() for t in draw_consort(_flow((0, 2))).axes[0].texts]
    assert all(t in drawn for t in every) and LOST_NOTE.split()[0] in " ".join(drawn)
    assert "no individual in it has the primary outcome observed" in " ".join(drawn).replace(
        "\n", " "
    )


def test_consort_open_report_has_one_pooled_column():
    pooled = ArmFlow("All participants", 16, 16, 320, 320, 0, 24, 16, 296, (20,) * 16, None)
    texts = box_texts(Flow(20, 16, (pooled,), "y"))
    assert texts["enrolment"].splitlines()[0] == "Clusters assessed for eligibility: 20"
    (arm,) = texts["arms"]
    assert arm["allocation"].startswith("All participants (arms pooled)\n")
    assert arm["follow-up"].startswith("Clusters lost to follow-up: 0\n")


def test_forest_separates_ratios_and_differences():
    fig = draw_forest([Effect("x", "OR", 1.5, 1.1, 2.0), Effect("d", "MD", -2.0, -4.0, 0.5)])
    assert len(fig.axes) == 2
    assert fig.axes[0].get_xscale() == "log" and fig.axes[1].get_xscale() == "linear"
