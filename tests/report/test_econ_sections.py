"""The Health economics chapter: its tables carry results.json's numbers (the real engine's
blinded file on the shipped trial), arms by their displayed labels, no chapter without
``health_economics``, descriptive parts only in an open report."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from odtrial.report import fmt
from odtrial.report.build import REPORT_OUTPUTS, draw_figures
from odtrial.report.econ_sections import money, probability_at
from odtrial.report.sections import ReportContent, TableBlock, build_sections


def _table(content: ReportContent, title_start: str) -> pd.DataFrame:
    found = [t for t in content.tables if t.title.startswith(title_start)]
    assert len(found) == 1, [t.title for t in content.tables]
    return found[0].body


def _text(content: ReportContent, *sids: str) -> str:
    out = []
    for s in content.sections:
        if not sids or s.id in sids:
            for b in s.blocks:
                if isinstance(b, TableBlock):
                    out.append(b.table.title)
                    out.append(b.table.body.to_csv())
                    out.extend(b.table.footnotes)
                else:
                    out.append(str(getattr(b, "text", "")) + str(getattr(b, "title", "")))
    return "\n".join(out)


def _money_sd(d: Mapping[str, Any]) -> str:
    return f"{money(d['mean'])} ({money(d['sd'])})"


@pytest.fixture(scope="module")
def real(real_results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return real_results["blinded"]


@pytest.fixture(scope="module")
def content(real: dict[str, Any]) -> ReportContent:
    return build_sections(real)


def test_chapter_sits_between_results_and_appendix(content: ReportContent) -> None:
    ids = [s.id for s in content.sections]
    he = ids.index("health_economics")
    assert ids.index("diagnostics") < he < ids.index("reproducibility")
    assert ids[he : he + 5] == [
        "health_economics",
        "econ_resources",
        "econ_outcomes",
        "econ_cea",
        "econ_sensitivity",
    ]
    words = _text(content, "health_economics")
    he_block = content.health_economics
    assert he_block is not None
    assert "NHS and personal social services" in words and "24 months" in words
    assert "at 2023 prices" in words and "discounted at 3.5% a year" in words
    assert "EQ-5D-5L" in words and "England value set" in words


def test_descriptive_tables_match_results(real: dict[str, Any], content: ReportContent) -> None:
    he = real["health_economics"]
    unit = _table(content, "Unit costs")
    assert len(unit) == len(he["unit_costs"])
    for row, u in zip(unit.itertuples(index=False), he["unit_costs"], strict=True):
        assert row[2] == f"{u['cost']:,.2f} ({u['price_year']})"
        assert row[3] == f"{u['cost_in_price_year']:,.2f}"
        assert row[4] == u["source"]
    use = _table(content, "Resource use per participant over 24 months by arm")
    assert list(use.columns[1:]) == ["Arm A: n", "Arm A: mean (SD)", "Arm B: n", "Arm B: mean (SD)"]
    for row, r in zip(use.itertuples(index=False), he["resource_use"], strict=True):
        a = r["by_arm"]["A"]
        assert row[0] == r["label"] and row[1] == str(a["n"])
        assert row[2] == f"{fmt.num(a['mean'])} ({fmt.num(a['sd'])})"
    costs = _table(content, "Costs per participant by category, £ (2023 prices, discounted)")
    shown = [c for c in he["costs"] if c["category"] != "intervention"]
    assert len(costs) == len(shown)  # the intervention's own cost is hidden when blinded
    for row, c in zip(costs.itertuples(index=False), shown, strict=True):
        assert row[2] == _money_sd(c["by_arm"]["A"]) and row[4] == _money_sd(c["by_arm"]["B"])
    total = next(c for c in he["costs"] if c["category"] == "total")["by_arm"]["B"]
    assert "," in money(total["mean"])  # thousands separators on the POD trial's totals
    util = _table(content, "EQ-5D utilities by visit and QALYs by arm")
    assert len(util) == len(he["utilities"]) + 1
    for row, u in zip(util.iloc[:-1].itertuples(index=False), he["utilities"], strict=True):
        b = u["by_arm"]["B"]
        assert row[0] == f"EQ-5D utility, month {u['visit']}"
        assert row[4] == f"{fmt.num(b['mean'], 3)} ({fmt.num(b['sd'], 3)})"
    q = util.iloc[-1]
    assert q.iloc[0].startswith("QALYs over 24 months, discounted")
    assert q.iloc[1] == str(he["qalys"]["A"]["n"])
    assert (
        q.iloc[2]
        == f"{fmt.num(he['qalys']['A']['mean'], 3)} ({fmt.num(he['qalys']['A']['sd'], 3)})"
    )


def test_base_case_and_sensitivity_tables_match_results(
    real: dict[str, Any], content: ReportContent
) -> None:
    base = real["health_economics"]["base_case"]
    t = _table(content, "Base-case cost-effectiveness of Arm A compared with Arm B")
    rows = {str(r[0]).split("{")[0]: (r[1], r[2]) for r in t.itertuples(index=False)}
    lo, hi = base["cost_ci"]
    assert rows["Incremental cost, £"] == (
        money(base["incremental_cost"]),
        f"{money(lo)} to {money(hi)}",
    )
    assert rows["Incremental QALYs"][0] == fmt.num(base["incremental_effect"], 3)
    assert rows["ICER, £ per QALY"][0] == money(base["icer"])
    for m in base["inmb"]:
        w = f"£{m['wtp']:,.0f}"
        assert rows[f"INMB at {w} per QALY, £"] == (
            money(m["estimate"]),
            f"{money(m['ci_lower'])} to {money(m['ci_upper'])}",
        )
        p = probability_at(base, m["wtp"])
        assert p is not None
        assert rows[f"Probability cost-effective at {w} per QALY"][0] == fmt.num(p, 2)
    # the probability read off the CEAC at the threshold agrees with the INMB's sign
    assert (probability_at(base, base["inmb"][0]["wtp"]) > 0.5) == (base["inmb"][0]["estimate"] > 0)  # type: ignore[operator]
    sens = _table(content, "Sensitivity analyses of the cost-effectiveness")
    all_res = [base, *real["health_economics"]["sensitivity"]]
    assert len(sens) == len(all_res)
    for row, res in zip(sens.to_dict("records"), all_res, strict=True):
        assert row["Incremental cost, £ (95% CI)"].startswith(money(res["incremental_cost"]) + " (")
        assert row["ICER, £ per QALY"] == money(res["icer"])
        first = res["inmb"][0]
        assert row[f"INMB at £{first['wtp']:,.0f}, £ (95% CI)"] == (
            f"{money(first['estimate'])} ({money(first['ci_lower'])} to {money(first['ci_upper'])})"
        )
    assert [f.key for f in content.figures][-2:] == ["ce_plane", "ceac"]


def test_blinded_chapter_names_no_real_arm(real: dict[str, Any], content: ReportContent) -> None:
    words = _text(content, *(s.id for s in content.sections if s.id.startswith(("health", "econ"))))
    assert "Arm A" in words and "Arm B" in words
    for name in ("POD", "TAU", "Open Dialogue", "usual"):
        assert name not in words
    costs = _table(content, "Costs per participant")
    assert "Intervention" not in " ".join(costs.iloc[:, 0])


def test_unblinded_chapter_uses_real_labels_and_shows_the_intervention_cost(
    real: dict[str, Any], unblinded_results: dict[str, Any]
) -> None:
    names = {"A": "POD", "B": "TAU"}
    he = _relabel(real["health_economics"], names)
    c = build_sections({**unblinded_results, "health_economics": he})
    costs = _table(c, "Costs per participant")
    # relabelled from a blinded file, which leaves the intervention's own cost out
    assert he["intervention_cost_withheld"] is True
    assert "Intervention" not in list(costs.iloc[:, 0])
    assert "Peer-supported Open Dialogue: mean (SD)" in costs.columns
    # with it (an unblinded analysis's file), its row is shown
    un = {**he, "intervention_cost_withheld": False}
    un["costs"] = [
        {"category": "intervention", "by_arm": he["costs"][0]["by_arm"]},
        *he["costs"],
    ]
    c2 = build_sections({**unblinded_results, "health_economics": un})
    assert "Intervention" in list(_table(c2, "Costs per participant").iloc[:, 0])
    base = _table(c, "Base-case cost-effectiveness of Peer-supported Open Dialogue compared with")
    assert len(base) == 3 + 2 * len(he["base_case"]["inmb"])


def test_no_chapter_without_health_economics(
    blinded_results: dict[str, Any], open_results: dict[str, Any]
) -> None:
    for r in (blinded_results, open_results):
        assert "health_economics" not in r
        c = build_sections(r)
        assert not [s for s in c.sections if s.id.startswith(("health", "econ"))]
        assert not {"ce_plane", "ceac"} & {f.key for f in c.figures}
        assert c.health_economics is None
        assert "QALY" not in " ".join(b.items[0] for b in c.section("abbreviations").blocks)  # type: ignore[union-attr]


def test_open_report_is_descriptive_only(
    real: dict[str, Any], open_results: dict[str, Any]
) -> None:
    he = _relabel(real["health_economics"], {"A": "all"})  # base case left in on purpose
    c = build_sections({**open_results, "health_economics": he})
    titles = [t.title for t in c.tables]
    assert any(t.startswith("Unit costs") for t in titles)
    assert any(t.startswith("Costs per participant") for t in titles)
    assert not any("cost-effectiveness" in t.lower() for t in titles)
    assert not {"ce_plane", "ceac"} & {f.key for f in c.figures}
    assert c.health_economics is None
    words = _text(c, *(s.id for s in c.sections if s.id.startswith(("health", "econ"))))
    for comparative in ("Incremental cost", "INMB at", "ICER,", "Probability cost-effective"):
        assert comparative not in words
    assert "not shown in an open report" in words
    use = _table(c, "Resource use per participant over 24 months (arms pooled)")
    assert list(use.columns[1:]) == ["All participants: n", "All participants: mean (SD)"]


def test_figures_are_drawn(content: ReportContent, tmp_path: Path) -> None:
    figs = draw_figures(content, tmp_path)
    for key in ("ce_plane", "ceac"):
        assert figs[key]["png"].stat().st_size > 10_000
        assert f"figures/{key}.png" in REPORT_OUTPUTS and f"figures/{key}.svg" in REPORT_OUTPUTS


def _relabel(he: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """``health_economics`` with its by-arm keys renamed (arms not in ``names`` dropped)."""
    out = copy.deepcopy(dict(he))

    def arms(d: Mapping[str, Any]) -> dict[str, Any]:
        return {names[k]: v for k, v in d.items() if k in names}

    for key in ("resource_use", "costs", "utilities"):
        for item in out[key]:
            item["by_arm"] = arms(item["by_arm"])
    out["qalys"] = arms(out["qalys"])
    out["complete_cases"] = arms(out["complete_cases"])
    return out
