"""The report's trial-specific words come from the plan's ``[summary]``; without it the
report reads for any cluster trial."""

from __future__ import annotations

import re
from typing import Any

from odtrial.report.sections import Bullets, Para, build_sections

ABBREV = re.compile(r"\b[A-Z][A-Z0-9-]*[A-Z0-9]\b")


def _section(results: dict[str, Any], key: str) -> list[Any]:
    content = build_sections(results)
    return list(next(s for s in content.sections if s.id == key).blocks)


def _plain(results: dict[str, Any]) -> str:
    return " ".join(b.text for b in _section(results, "plain_language_summary"))


def _abbreviations(results: dict[str, Any]) -> list[str]:
    (bullets,) = _section(results, "abbreviations")
    assert isinstance(bullets, Bullets)
    return [item.split(":")[0] for item in bullets.items]


def test_plain_language_text_comes_from_the_plan(blinded_results: dict[str, Any]) -> None:
    summary = blinded_results["plan"]["sections"]["summary"]
    summary["plain_language"] = "We compared two ways of teaching reading in primary schools."
    summary["clusters"] = "schools"
    text = _plain(blinded_results)
    assert text.startswith("We compared two ways of teaching reading in primary schools.")
    clusters = blinded_results["flow"]["clusters_randomised"]
    assert f"{clusters} schools took part" in text


def test_without_a_summary_the_plain_language_text_is_generic(
    blinded_results: dict[str, Any],
) -> None:
    del blinded_results["plan"]["sections"]["summary"]
    first = _section(blinded_results, "plain_language_summary")[0]
    assert isinstance(first, Para)
    assert first.text.startswith("We compared two ways of providing care.")
    text = _plain(blinded_results)
    for word in ("mental health", "practice", "doctor"):
        assert word not in text
    assert f"{blinded_results['flow']['clusters_randomised']} groups took part" in text
    assert ABBREV.findall(text) == []


def test_abbreviations_are_the_statistical_ones_and_the_plans(
    blinded_results: dict[str, Any],
) -> None:
    with_plan = _abbreviations(blinded_results)
    assert {"GP", "IMD", "NIHR", "GLMM", "ICC"} <= set(with_plan)
    assert with_plan == sorted(with_plan, key=str.lower)
    del blinded_results["plan"]["sections"]["summary"]
    generic = _abbreviations(blinded_results)
    assert "GLMM" in generic and not {"GP", "IMD", "NIHR"} & set(generic)


def _all_text(results: dict[str, Any]) -> str:
    return " ".join(
        b.text for s in build_sections(results).sections for b in s.blocks if isinstance(b, Para)
    )


def test_counts_agree_with_their_nouns(blinded_results: dict[str, Any]) -> None:
    """One cluster, participant, secondary outcome: no '1 clusters', '1 secondary outcomes'."""
    r = blinded_results
    r["outcomes"] = r["outcomes"][:2]  # the primary and one secondary outcome
    r["flow"]["clusters_randomised"] = 1
    for a in r["flow"]["arms"]:
        a["randomised_clusters"], a["recruited"] = 1, 1
    text = _all_text(r)
    label = r["outcomes"][1]["label"]
    for said in (
        f"and on 1 secondary outcome: {label[:1].lower() + label[1:]}.",
        "The secondary outcome used a model suited to its type",
        "1 cluster randomised, 2 participants recruited",
        "(1 cluster, 1 participant)",
        "1 cluster was randomised.",
        "With 1 cluster, uncorrected",
    ):
        assert said in text, said
    assert not re.search(r"\b1 (secondary outcomes|clusters|participants|people)\b", text)


def test_a_plan_without_secondary_outcomes_lists_none(blinded_results: dict[str, Any]) -> None:
    r = blinded_results
    r["outcomes"] = r["outcomes"][:1]
    r["sensitivity"] = []
    paras = [b for s in ("scientific_summary", "abstract") for b in _section(r, s)]
    text = " ".join(b.text for b in paras if isinstance(b, Para))
    primary = r["outcomes"][0]["label"]
    assert f"on the primary outcome, {primary[:1].lower() + primary[1:]}." in text
    assert "secondary outcome" not in text.lower() and "Secondary" not in text


def test_outcome_labels_keep_their_capitals_and_models_their_article(
    blinded_results: dict[str, Any],
) -> None:
    import copy

    r = copy.deepcopy(blinded_results)
    primary = next(o for o in r["outcomes"] if o["role"] == "primary")
    primary["label"] = "EQ VAS at 3 months"
    text = _all_text(r)
    assert any(s["outcome"] == primary["id"] for s in r["sensitivity"])
    assert "(EQ VAS at 3 months)" in text and "(eq vas at 3 months)" not in text
    assert " with a LMM" not in text and " with a GEE" not in text


def test_the_flow_says_how_many_participant_records_wait_on_queries(
    blinded_results: dict[str, Any],
) -> None:
    import copy

    from odtrial.report.fmt import count

    r = copy.deepcopy(blinded_results)
    for n, verb in ((21, "were"), (1, "was")):
        r["flow"]["participant_records_held_back"] = n
        assert f"A further {count(n, 'participant record')} {verb} held back at data " in (
            _all_text(r)
        )
    r["flow"]["participant_records_held_back"] = 0
    assert "held back at data validation" not in _all_text(r)
    del r["flow"]["participant_records_held_back"]  # a results file from before
    assert "held back at data validation" not in _all_text(r)


def test_the_appendix_says_where_a_derivation_is_censored() -> None:
    from odtrial.report.sections import _derivations_text

    der = {
        "derivations": {
            "ae": {"kind": "count_events", "window_months": 12,
                   "censor": {"table": "participants", "date": "withdrawal_date"}},
            "adm": {"kind": "time_to_event", "censor": [
                {"table": "participants", "date": "withdrawal_date"},
                {"table": "deaths", "date": "date_of_death", "where": {"field": "x", "in": [1]}},
            ]},
            "y": {"kind": "score"},
        }
    }  # fmt: skip
    assert _derivations_text(der) == (
        "adm: time_to_event, follow-up ended at participants.withdrawal_date or "
        "deaths.date_of_death (the earliest); ae: count_events, 12 months, follow-up ended at "
        "participants.withdrawal_date; y: score"
    )
