"""The shipped medication dictionary and its loader."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from odtrial.data.drugs import DICTIONARY, DRUGS, cpz_equivalent
from odtrial.data.medication_dictionary import (
    COLUMNS,
    SHIPPED_VERSIONS,
    load_medication_dictionary,
    shipped_path,
)
from odtrial.errors import ConfigError, OdtrialError

# /work/shared/DOMAIN.md: Woods 2003, mg equal to 100 mg chlorpromazine.
WOODS = {
    "risperidone": 2.0,
    "olanzapine": 5.0,
    "quetiapine": 75.0,
    "aripiprazole": 7.5,
    "haloperidol": 2.0,
    "ziprasidone": 60.0,
}
# Leucht 2015: mg equal to 1 mg olanzapine.
LEUCHT = {
    "chlorpromazine": 38.9,
    "risperidone": 0.4,
    "haloperidol": 0.7,
    "quetiapine": 32.3,
    "aripiprazole": 1.4,
    "ziprasidone": 7.9,
    "clozapine": 30.6,
    "amisulpride": 38.3,
}
# The in-code catalogue this file replaced: (antipsychotic, max mg, Woods, Leucht).
FORMER = {
    "chlorpromazine": (True, 1000, 100.0, 38.9),
    "risperidone": (True, 16, 2.0, 0.4),
    "olanzapine": (True, 20, 5.0, 1.0),
    "quetiapine": (True, 750, 75.0, 32.3),
    "aripiprazole": (True, 30, 7.5, 1.4),
    "haloperidol": (True, 20, 2.0, 0.7),
    "ziprasidone": (True, 160, 60.0, 7.9),
    "clozapine": (True, 900, None, 30.6),
    "amisulpride": (True, 1200, None, 38.3),
    "sertraline": (False, 200, None, None),
    "fluoxetine": (False, 60, None, None),
    "mirtazapine": (False, 45, None, None),
    "lithium carbonate": (False, 1800, None, None),
    "sodium valproate": (False, 2500, None, None),
    "zopiclone": (False, 7.5, None, None),
}


def test_shipped_dictionary_loads_with_header() -> None:
    d = load_medication_dictionary()
    assert d.version == "2" and d.files == (str(shipped_path("2")),)
    (header,) = d.headers
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(header["date"]))
    # the classes are the header's, each used
    assert dict(d.classes) == header["classes"]
    assert set(d.classes) == {x.drug_class for x in d.drugs.values()}
    # every source named in a row is cited in the header
    cited = header["sources"]
    assert isinstance(cited, dict)
    used = {s for x in d.drugs.values() for s in x.sources.values()}
    assert used <= set(cited) and "WHO ATC/DDD Index" in used


def test_domain_factors_present_and_exact() -> None:
    for name, v in WOODS.items():
        assert DRUGS[name].woods2003_mg_per_100cpz == v
        assert DRUGS[name].sources["woods2003_mg_per_100cpz"] == "Woods 2003"
    for name, v in LEUCHT.items():
        assert DRUGS[name].leucht2015_mg_per_1olz == v
        assert DRUGS[name].sources["leucht2015_mg_per_1olz"] == "Leucht 2015"
    # the reference drugs of each method
    assert DRUGS["chlorpromazine"].woods2003_mg_per_100cpz == 100.0
    assert DRUGS["olanzapine"].leucht2015_mg_per_1olz == 1.0
    # uncovered by Woods 2003: the derivation reports their dose missing
    assert DRUGS["clozapine"].woods2003_mg_per_100cpz is None
    assert DRUGS["amisulpride"].woods2003_mg_per_100cpz is None


def test_former_catalogue_unchanged() -> None:
    for name, (ap, mx, woods, leucht) in FORMER.items():
        d = DRUGS[name]
        assert (d.antipsychotic, d.max_daily_mg) == (ap, mx), name
        assert (d.woods2003_mg_per_100cpz, d.leucht2015_mg_per_1olz) == (woods, leucht), name
    # the synthetic trials' unknown drugs are misspellings that no version has
    from odtrial.synth.bridge.faults import UNKNOWN_DRUGS as BRIDGE_UNKNOWN
    from odtrial.synth.faults import UNKNOWN_DRUGS

    for version in SHIPPED_VERSIONS:
        d = load_medication_dictionary(shipped_path(version))
        for name in UNKNOWN_DRUGS + BRIDGE_UNKNOWN:
            assert d.resolve(name) is None, (version, name)
            assert d.resolve(name.upper()) is None, (version, name)


# Version 2's antipsychotics: (ATC, BNF maximum mg/day, Leucht 2015, WHO oral DDD mg, brands).
# ATC codes and oral DDDs: WHO ATC/DDD Index (DDDs agree with the DDD-based equivalents of
# Leucht et al., Schizophr Bull 2016). Leucht 2015 has asenapine 0.9 and no data for
# lurasidone and paliperidone; Woods 2003 covers none of them. Asenapine is sublingual (no
# oral DDD); lurasidone's DDD is of the hydrochloride, UK strengths of the base (not recorded).
ADDED_IN_2 = {
    "promazine": ("N05AA03", None, None, 300, ()),
    "fluphenazine": ("N05AB02", None, None, 10, ("Modecate", "Moditen")),
    "perphenazine": ("N05AB03", None, None, 30, ("Fentazin",)),
    "periciazine": ("N05AC01", None, None, 50, ()),
    "benperidol": ("N05AD07", None, None, 1.5, ()),
    "lurasidone": ("N05AE05", 148, None, None, ("Latuda",)),
    "flupentixol": ("N05AF01", 18, None, 6, ("Depixol", "Fluanxol")),
    "zuclopenthixol": ("N05AF05", 150, None, 30, ("Clopixol",)),
    "pimozide": ("N05AG02", 20, None, 4, ("Orap",)),
    "asenapine": ("N05AH05", 20, 0.9, None, ("Sycrest",)),
    "paliperidone": ("N05AX13", 12, None, 6, ("Invega", "Xeplion", "Trevicta")),
    "cariprazine": ("N05AX15", 6, None, 3, ("Reagila",)),
}


def test_version_2_adds_antipsychotics_and_keeps_version_1() -> None:
    v1 = load_medication_dictionary(shipped_path("1"))
    assert v1.version == "1" and len(v1) == 49
    assert set(DRUGS) == set(v1) | set(ADDED_IN_2) and not set(v1) & set(ADDED_IN_2)
    for name in v1:  # version 1's rows are unchanged
        assert DRUGS[name] == v1.drugs[name], name
    assert dict(DICTIONARY.classes) == dict(v1.classes)
    for name, (atc, mx, leucht, ddd, brands) in ADDED_IN_2.items():
        d = DRUGS[name]
        assert (d.drug_class, d.bnf_section, d.atc_code) == ("antipsychotic", "4.2.1", atc), name
        assert math.isnan(d.max_daily_mg) if mx is None else d.max_daily_mg == mx, name
        assert d.woods2003_mg_per_100cpz is None and d.leucht2015_mg_per_1olz == leucht, name
        assert (d.ddd, d.ddd_unit) == (ddd, "mg" if ddd is not None else ""), name
        assert d.brands == brands, name
        given = {"max_daily_mg": mx, "leucht2015_mg_per_1olz": leucht, "ddd": ddd}
        assert set(d.sources) == {k for k, v in given.items() if v is not None}, name
    # a brand finds its generic; the CPZ equivalent exists where a method covers the drug
    assert DICTIONARY.canonical_name("XEPLION") == "paliperidone"
    assert cpz_equivalent("Sycrest", 9.0, "leucht2015") == pytest.approx(9.0 / 0.9 * 38.9)
    assert cpz_equivalent("Depixol", 6.0, "leucht2015") is None
    with pytest.raises(ConfigError, match=r"version '3' is not shipped \(shipped: 1, 2\)"):
        shipped_path("3")


def test_a_trial_pins_version_1_by_naming_its_file(tmp_path: Path) -> None:
    import shutil

    from odtrial.data.freeze import copy_medication_dictionary
    from odtrial.trial import load_trial

    for suffix in (".csv", ".json"):
        shutil.copy(shipped_path("1").with_suffix(suffix), tmp_path)
    t = load_trial(_trial_with(tmp_path, 'dictionary = "medication_v1.csv"'))
    assert t.medication is not None and t.medication.version == "1"
    assert t.medication.resolve("flupentixol") is None and len(t.medication) == 49
    # the freeze copies the pinned file and records its version
    entry = copy_medication_dictionary(t, tmp_path / "freeze")
    assert entry is not None and (entry["mode"], entry["version"]) == ("replace", "1")


def test_ddd_values() -> None:
    ddd = {
        "olanzapine": (10, "mg"),
        "risperidone": (5, "mg"),
        "quetiapine": (400, "mg"),
        "haloperidol": (8, "mg"),
        "aripiprazole": (15, "mg"),
        "clozapine": (300, "mg"),
        "amisulpride": (400, "mg"),
        "chlorpromazine": (300, "mg"),
        "sertraline": (50, "mg"),
        "fluoxetine": (20, "mg"),
        "citalopram": (20, "mg"),
        "mirtazapine": (30, "mg"),
        "lithium carbonate": (24, "mmol"),
    }
    for name, (v, unit) in ddd.items():
        assert (DRUGS[name].ddd, DRUGS[name].ddd_unit) == (v, unit), name
        assert DRUGS[name].sources["ddd"] == "WHO ATC/DDD Index"


def test_classes_atc_bnf_consistent() -> None:
    prefixes = {
        "antipsychotic": ("N05A",),
        "antidepressant": ("N06A",),
        "mood_stabiliser": ("N05AN", "N03A"),
        "anxiolytic_hypnotic": ("N05B", "N05C"),
    }
    bnf = {
        "antipsychotic": ("4.2.1",),
        "antidepressant": ("4.3.",),
        "mood_stabiliser": ("4.2.3", "4.8.1"),
        "anxiolytic_hypnotic": ("4.1.",),
    }
    for d in DRUGS.values():
        assert d.atc_code and d.bnf_section, d.name
        if d.drug_class in prefixes:
            assert d.atc_code.startswith(prefixes[d.drug_class]), d.name
            assert d.bnf_section.startswith(bnf[d.drug_class]), d.name
        # every N05A code other than lithium (N05AN) is an antipsychotic, every N06A an antidepressant
        if d.atc_code.startswith("N05A") and not d.atc_code.startswith("N05AN"):
            assert d.antipsychotic, d.name
        if d.atc_code.startswith("N06A"):
            assert d.drug_class == "antidepressant", d.name
        # CPZ equivalents exist only for antipsychotics
        if not d.antipsychotic:
            assert d.woods2003_mg_per_100cpz is None and d.leucht2015_mg_per_1olz is None
    counts = {c: len(DICTIONARY.by_class(c)) for c in DICTIONARY.classes}
    assert all(n >= 2 for n in counts.values()), counts


def test_brands_map_to_generics() -> None:
    assert DICTIONARY.canonical_name("Zyprexa") == "olanzapine"
    assert DICTIONARY.canonical_name("  PRIADEL ") == "lithium carbonate"
    assert DICTIONARY.canonical_name("Clozaril") == "clozapine"
    assert DICTIONARY.canonical_name("sertraline") == "sertraline"
    assert DICTIONARY.canonical_name("Lustral") == "sertraline"
    assert DICTIONARY.canonical_name("no such drug") is None
    assert cpz_equivalent("Risperdal", 4.0, "woods2003") == 200.0
    # brands are unique across the dictionary and never a generic name
    brands = [b.lower() for d in DRUGS.values() for b in d.brands]
    assert len(brands) == len(set(brands))
    assert not set(brands) & set(DRUGS)
    assert all(DICTIONARY.brands[b] in DRUGS for b in brands)


def _write(tmp: Path, name: str, rows: list[str], header: dict | None = None) -> Path:
    p = tmp / name
    p.write_text("\n".join(rows) + "\n", encoding="utf-8")
    if header is not None:
        p.with_suffix(".json").write_text(json.dumps(header), encoding="utf-8")
    return p


HEAD = ",".join(COLUMNS)


def test_extend_adds_rows(tmp_path: Path) -> None:
    extra = _write(
        tmp_path,
        "trial_meds.csv",
        [
            "generic,class,brands,leucht2015_mg_per_1olz,leucht2015_source",
            "Zotepine,antipsychotic,Zoleptil,13.2,Leucht 2015",
        ],
        {"version": "t1", "date": "2026-01-01", "sources": {"Leucht 2015": "Leucht 2015"}},
    )
    d = load_medication_dictionary(extend=extra)
    assert len(d) == len(DRUGS) + 1 and d.version == "2+t1"
    z = d.resolve("zoleptil")
    assert z is not None and z.name == "zotepine" and math.isnan(z.max_daily_mg)
    assert cpz_equivalent("zotepine", 13.2, "leucht2015", dictionary=d) == pytest.approx(38.9)
    assert d.resolve("olanzapine") == DRUGS["olanzapine"]
    # the shipped dictionary is untouched
    assert DICTIONARY.resolve("zotepine") is None


def test_replace_uses_only_the_trial_file(tmp_path: Path) -> None:
    own = _write(
        tmp_path,
        "own.csv",
        ["generic,class", "olanzapine,antipsychotic", "sertraline,antidepressant"],
    )
    d = load_medication_dictionary(own)
    assert list(d) == ["olanzapine", "sertraline"] and d.version == "?"
    assert d.resolve("quetiapine") is None


def test_extend_refuses_a_name_already_defined(tmp_path: Path) -> None:
    extra = _write(tmp_path, "x.csv", ["generic,class,brands", "newdrug,other,Zyprexa"])
    with pytest.raises(
        ConfigError,
        match=r"x\.csv: line 2, column 'brands': brand name 'zyprexa' is already defined \(medication_v2\.csv line \d+\)",
    ):
        load_medication_dictionary(extend=extra)
    extra = _write(tmp_path, "y.csv", ["generic,class", "Sertraline,antidepressant"])
    with pytest.raises(
        ConfigError, match=r"y\.csv: line 2, column 'generic': generic name 'sertraline'"
    ):
        load_medication_dictionary(extend=extra)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["generic,class,colour"], r"line 1, column 'colour': unknown column"),
        (["generic,brands", "a,b"], r"line 1: required column 'class' is missing"),
        (
            ["generic,class,ddd", "a,other,1"],
            r"line 1: column 'ddd' and its source column 'ddd_source'",
        ),
        (
            ["generic,class", "a,antipsychotic", "b,sedative"],
            r"line 3, column 'class': 'sedative' is not a declared class \(antipsychotic, "
            r"antidepressant, .*\); declare it with a description in the header bad\.json: "
            r'"classes": \{"sedative": "\.\.\."\}',
        ),
        (["generic,class", ",other"], r"line 2, column 'generic': empty"),
        (["generic,class", "a,other,extra"], r"line 2: 3 cells, expected 2"),
        (
            ["generic,class", "a,other", "A,other"],
            r"line 3, column 'generic': generic name 'a' is already",
        ),
        (["generic,class,brands", "a,other,X;x"], r"line 2, column 'brands': a brand is repeated"),
        (
            ["generic,class,brands", "a,other,Y", "b,other,y"],
            r"line 3, column 'brands': brand name 'y'",
        ),
        (["generic,class,atc_code", "a,other,N5A"], r"line 2, column 'atc_code': 'N5A' is not"),
        (["generic,class,bnf_section", "a,other,four"], r"line 2, column 'bnf_section'"),
        (
            ["generic,class,max_daily_mg,max_daily_source", "a,other,lots,BNF"],
            r"line 2, column 'max_daily_mg': 'lots' is not a number",
        ),
        (
            ["generic,class,max_daily_mg,max_daily_source", "a,other,-5,BNF"],
            r"line 2, column 'max_daily_mg': '-5' must be a positive number",
        ),
        (
            ["generic,class,max_daily_mg,max_daily_source", "a,other,5,"],
            r"line 2, column 'max_daily_source': 'max_daily_mg' is 5 but its source is empty",
        ),
        (
            ["generic,class,max_daily_mg,max_daily_source", "a,other,,BNF"],
            r"line 2, column 'max_daily_source': source 'BNF' given but 'max_daily_mg' is empty",
        ),
        (
            ["generic,class,woods2003_mg_per_100cpz,woods2003_source", "a,antidepressant,5,W"],
            r"line 2, column 'woods2003_mg_per_100cpz': chlorpromazine equivalents are for antipsychotics only",
        ),
        (
            ["generic,class,ddd,ddd_unit,ddd_source", "a,other,5,,WHO"],
            r"line 2, column 'ddd_unit': a DDD needs its unit",
        ),
        (
            ["generic,class,ddd,ddd_unit,ddd_source", "a,other,5,tablets,WHO"],
            r"line 2, column 'ddd_unit': 'tablets' is not one of mg, mmol",
        ),
        ([], r": the file is empty"),
    ],
)
def test_malformed_files_give_one_line_errors(
    tmp_path: Path, rows: list[str], message: str
) -> None:
    p = _write(tmp_path, "bad.csv", rows)
    with pytest.raises(ConfigError, match=message) as e:
        load_medication_dictionary(p)
    assert isinstance(e.value, OdtrialError)
    assert "\n" not in str(e.value) and str(p) in str(e.value)


# -- classes are data: declared by a header, extended by a trial -------------------------

_LIPID = {
    "version": "t1",
    "date": "2026-01-01",
    "sources": {"BNF": "British National Formulary"},
    "classes": {"lipid_regulating": "BNF 2.12; ATC C10"},
}
_STATIN = ["generic,class,brands,atc_code", "simvastatin,lipid_regulating,Zocor,C10AA01"]


def test_an_extension_declares_a_new_class(tmp_path: Path) -> None:
    d = load_medication_dictionary(extend=_write(tmp_path, "more.csv", _STATIN, _LIPID))
    assert list(d.classes) == [*DICTIONARY.classes, "lipid_regulating"]
    assert d.classes["lipid_regulating"] == "BNF 2.12; ATC C10"
    assert d.by_class("lipid_regulating") == ("simvastatin",)
    assert d.canonical_name("ZOCOR") == "simvastatin"
    assert not d.resolve("simvastatin").antipsychotic  # type: ignore[union-attr]
    # without the declaration, the class is refused with how to declare it
    with pytest.raises(
        ConfigError,
        match=r"more2\.csv: line 2, column 'class': 'lipid_regulating' is not a declared "
        r"class \(antipsychotic, .*, other\); declare it with a description in the header "
        r"more2\.json",
    ):
        load_medication_dictionary(extend=_write(tmp_path, "more2.csv", _STATIN))


def test_a_replacement_declares_its_own_classes(tmp_path: Path) -> None:
    own = _write(tmp_path, "own.csv", _STATIN, _LIPID)
    d = load_medication_dictionary(own)
    assert dict(d.classes) == {"lipid_regulating": "BNF 2.12; ATC C10"}
    # a class the shipped dictionary has is not declared by this one
    rows = [*_STATIN, "olanzapine,antipsychotic,,N05AH03"]
    with pytest.raises(ConfigError, match=r"line 3, column 'class': 'antipsychotic' is not"):
        load_medication_dictionary(_write(tmp_path, "own.csv", rows, _LIPID))
    # chlorpromazine equivalents stay an antipsychotic's, whatever the classes declared
    rows = ["generic,class,woods2003_mg_per_100cpz,woods2003_source", "x,lipid_regulating,5,BNF"]
    with pytest.raises(
        ConfigError,
        match=r"line 2, column 'woods2003_mg_per_100cpz': chlorpromazine equivalents are for "
        r"antipsychotics only \(class 'antipsychotic'\), not class 'lipid_regulating'",
    ):
        load_medication_dictionary(_write(tmp_path, "own.csv", rows, _LIPID))


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ({}, r"key 'classes' must be an object of class name -> description"),
        (["statin"], r"key 'classes' must be an object"),
        ({"Statin": "x"}, r"key 'classes' declares 'Statin': a class name is lower-case"),
        ({"statin drugs": "x"}, r"declares 'statin drugs'"),
        ({"statin": ""}, r"key 'classes\.statin' must be a description"),
        ({"statin": 3}, r"key 'classes\.statin' must be a description"),
        (
            {"antidepressant": "again"},
            r"more\.json: key 'classes' declares 'antidepressant', which medication_v\d+\.csv "
            r"already declares",
        ),
    ],
)
def test_class_declaration_errors(tmp_path: Path, classes: object, message: str) -> None:
    header = {**_LIPID, "classes": classes}
    p = _write(tmp_path, "more.csv", ["generic,class", "x,other"], header)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=message) as e:
        load_medication_dictionary(extend=p)
    assert "\n" not in str(e.value)


def test_header_errors(tmp_path: Path) -> None:
    rows = ["generic,class,ddd,ddd_unit,ddd_source", "a,other,5,mg,WHO"]
    p = _write(tmp_path, "h.csv", rows, {"version": "1", "date": "2026-01-01"})
    with pytest.raises(ConfigError, match=r"h\.json: key 'sources' is missing"):
        load_medication_dictionary(p)
    p = _write(
        tmp_path, "h.csv", rows, {"version": "1", "date": "2026-01-01", "sources": {"BNF": "x"}}
    )
    with pytest.raises(
        ConfigError, match=r"line 2, column 'ddd_source': source 'WHO' is not cited"
    ):
        load_medication_dictionary(p)
    p.with_suffix(".json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"h\.json: not readable JSON"):
        load_medication_dictionary(p)
    with pytest.raises(ConfigError, match=r"missing\.csv: cannot be read"):
        load_medication_dictionary(tmp_path / "missing.csv")


def test_shipped_file_is_package_data() -> None:
    # found through importlib.resources, next to the loader, with its header
    p = shipped_path()
    assert p.is_file() and p.with_suffix(".json").is_file()
    assert p.parent.name == "dictionaries" and p.parent.parent.name == "data"
    # the wheel's package-data globs carry both files
    root = Path(__file__).resolve().parents[2]
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    line = next(x for x in pyproject.splitlines() if x.startswith("odtrial = ["))
    assert '"**/*.csv"' in line and '"**/*.json"' in line


def test_loads_in_a_fresh_interpreter() -> None:
    # importlib.resources, not a path relative to the working directory
    code = (
        "import os; os.chdir('/');"
        "from odtrial.data.medication_dictionary import load_medication_dictionary as f;"
        "print(len(f()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == len(DRUGS)


def test_ingest_maps_brands_to_generics() -> None:
    from odtrial.data.canonical import Field
    from odtrial.data.mapping import _canonical_lookup
    from odtrial.trial import load_trial

    shipped = load_trial(Path(__file__).resolve().parents[2] / "data/synthetic/trial.toml")
    lookup = _canonical_lookup(Field("drug", "code", vocab="drug"), shipped)
    assert lookup("Zyprexa") == "olanzapine"
    assert lookup(" Quetiapine ") == "quetiapine"
    assert lookup("Latuda") == "lurasidone"
    assert lookup("olanzipine") is None  # kept lower-cased by map_codes, flagged unknown_drug


# -- the trial definition's [medication] table ------------------------------------------

_TESTAPINE = [  # a made-up antipsychotic
    "generic,class,woods2003_mg_per_100cpz,woods2003_source",
    "testapine,antipsychotic,3.0,test factor",
]


def _trial_with(tmp_path: Path, medication: str) -> Path:
    """The shipped trial definition, copied with a ``[medication]`` table appended."""
    src = Path(__file__).resolve().parents[2] / "data" / "synthetic" / "trial.toml"
    cfg = tmp_path / "trial.toml"
    cfg.write_text(src.read_text(encoding="utf-8") + "\n[medication]\n" + medication + "\n")
    return cfg


def test_the_shipped_trial_names_no_dictionary() -> None:
    from odtrial.trial import load_trial

    t = load_trial(Path(__file__).resolve().parents[2] / "data" / "synthetic" / "trial.toml")
    assert t.medication is None  # derive then uses the shipped DICTIONARY


def test_trial_extends_the_shipped_dictionary(tmp_path: Path) -> None:
    from odtrial.trial import load_trial

    _write(tmp_path, "extra.csv", _TESTAPINE)
    t = load_trial(_trial_with(tmp_path, 'extend = "extra.csv"'))
    assert t.medication is not None and len(t.medication) == len(DRUGS) + 1
    assert t.medication.files == (str(shipped_path()), str(tmp_path / "extra.csv"))
    assert t.medication.resolve("Testapine").antipsychotic  # type: ignore[union-attr]


def test_trial_replaces_the_shipped_dictionary(tmp_path: Path) -> None:
    from odtrial.trial import load_trial

    _write(tmp_path, "own.csv", ["generic,class", "sertraline,antidepressant"])
    _write(tmp_path, "extra.csv", _TESTAPINE)
    t = load_trial(_trial_with(tmp_path, 'dictionary = "own.csv"\nextend = "extra.csv"'))
    assert t.medication is not None and list(t.medication) == ["sertraline", "testapine"]
    assert t.medication.resolve("olanzapine") is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'dictionary = "nowhere.csv"',
            r"key 'medication\.dictionary' names 'nowhere\.csv', not a file in ",
        ),
        ('extend = "nowhere.csv"', r"key 'medication\.extend' names 'nowhere\.csv', not a file"),
        (
            'extend = "dup.csv"',
            r"key 'medication\.extend' does not load: medication dictionary .*dup\.csv: line 2, "
            r"column 'generic': generic name 'sertraline' is already defined",
        ),
        ('dictionary = " "', r"key 'medication\.dictionary' must name a file"),
        (
            'extends = "x.csv"',
            r"key 'medication\.extends' is not a known key; did you mean 'extend'",
        ),
    ],
)
def test_trial_dictionary_errors(tmp_path: Path, table: str, message: str) -> None:
    from odtrial.trial import ConfigErrors, load_trial

    _write(tmp_path, "dup.csv", ["generic,class", "sertraline,antidepressant"])
    cfg = _trial_with(tmp_path, table)
    with pytest.raises(ConfigErrors, match=message) as info:
        load_trial(cfg)
    assert len(info.value.messages) == 1 and str(info.value).startswith(f"{cfg}: key ")


def test_check_reports_a_missing_dictionary(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import shutil

    from odtrial.check import check
    from odtrial.cli import main

    src = Path(__file__).resolve().parents[2] / "data" / "synthetic"
    trial = tmp_path / "trial"
    shutil.copytree(src, trial)
    cfg = _trial_with(trial, 'extend = "meds.csv"')
    assert check(trial).errors == (
        f"{cfg}: key 'medication.extend' names 'meds.csv', not a file in {trial}",
    )
    _write(trial, "meds.csv", _TESTAPINE)
    assert check(trial).ok
    (trial / "meds.csv").unlink()
    with pytest.raises(SystemExit) as info:
        main(["check", str(trial)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "key 'medication.extend' names 'meds.csv'" in err


_ON_STATIN = """
[variables.on_statin]
label = "Any statin"
definition = "A statin prescribed in the window."
derivation = { kind = "medication_any", table = "prescriptions", drug = "drug", start = "start_date", end = "end_date", class = "lipid_regulating" }
"""


def test_check_takes_the_plans_classes_from_the_trials_dictionary(tmp_path: Path) -> None:
    import shutil

    from odtrial.check import check

    root = Path(__file__).resolve().parents[2]
    trial = tmp_path / "trial"
    shutil.copytree(root / "data" / "synthetic", trial)
    plan = tmp_path / "sap.toml"
    text = (root / "analysis_plans" / "pod_synthetic_sap.toml").read_text(encoding="utf-8")
    text = text.replace('"../data/synthetic/trial.toml"', f'"{trial / "trial.toml"}"')
    plan.write_text(text.replace("\n[outcomes.", _ON_STATIN + "\n[outcomes.", 1))
    # the shipped dictionary has no such class: odtrial check names the plan key
    (err,) = check(trial, plan).errors
    assert err.startswith(
        f"{plan}: key 'variables.on_statin.derivation.class' names 'lipid_regulating', not a "
        "class of the trial's medication dictionary (antipsychotic, "
    )
    # the trial's extension declares it
    _write(trial, "meds.csv", _STATIN, _LIPID)
    _trial_with(trial, 'extend = "meds.csv"')
    r = check(trial, plan)
    assert r.ok, r.errors
    assert r.trial is not None and r.trial.medication is not None
    assert "lipid_regulating" in r.trial.medication.classes


def test_derive_classifies_with_the_trials_dictionary(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_derive_cases", Path(__file__).parent / "test_derive.py"
    )
    assert spec is not None and spec.loader is not None
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)  # the derivation's hand-checked tables
    trial_tables, pod = cases.trial_tables, cases.pod  # derive() with the POD derivations

    extended = load_medication_dictionary(extend=_write(tmp_path, "extra.csv", _TESTAPINE))
    shipped = pod(trial_tables()).set_index("participant_id")
    own = pod(trial_tables(), dictionary=extended).set_index("participant_id")
    # P17's testapine 3 mg/day, unknown to the shipped dictionary, is 100 mg CPZ per day
    assert not shipped.loc["P17", "any_antipsychotic"] and own.loc["P17", "any_antipsychotic"]
    assert own.loc["P17", "cpz_mean_daily_dose"] > 0
    assert own.attrs["counts"]["derivations"]["cpz_mean_daily_dose"]["unknown_drugs"] == []
    others = own.index != "P17"
    pd.testing.assert_frame_equal(shipped[others], own[others])
