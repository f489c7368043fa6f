"""The trial-definition reference describes exactly the keys the parsers accept.

A sample definition (``SAMPLE``) uses every described key and parses. Parsing it
with :meth:`odtrial._toml.TomlReader.unknown_keys` watched records, for every
table the parsers hold to a closed set of keys, the set they allow; each must
equal the keys :mod:`odtrial.trial_schema` describes there (both ways), and the
tables without a closed set must be the ones described as open. A misspelt key
in any closed table is refused with the nearest valid name.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from odtrial import trial_schema as ts
from odtrial._toml import TomlReader
from odtrial.data.catalogue import RULE_KINDS
from odtrial.trial import CLUSTER_KEYS, ConfigErrors, parse_trial
from odtrial.trial_tables import FIELD_TYPES

EXTENSION = (
    "generic,class,brands,bnf_section,atc_code,max_daily_mg,max_daily_source\n"
    "testapine,antipsychotic,Testa,4.2.1,N05AX99,800,trial\n"
)

SAMPLE = """
[trial]
name = "Every key"
registration = "ISRCTN00000000"
synthetic = true
arms = [{ code = "INT", label = "Intervention" }, { code = "CTL", label = "Control" }]
follow_up_months = 12
data_cutoff = 2025-06-30

[visits]
schedule = [
  { month = 6, window_days = 30, placeholder = false },
  { month = 12, window_before_days = 30, window_after_days = 45 },
]

[eligibility]
min_age = 16

[pseudonymisation]
key_env = "EVERY_KEY_PSEUDONYM_KEY"
test_key = "every-key-test-key-not-secret"

[randomisation]
record = "randomisation"
strata = { column = "area", label = "Areas" }
balance = [{ column = "beds", label = "Beds", decimals = 0 }]

[medication]
dictionary = "{dictionary}"
extend = "more.csv"

[baseline]
variables = [
  { column = "score", label = "Score", kind = "continuous", decimals = 2 },
  { column = "smoker", kind = "binary" },
  { column = "gender", kind = "categorical", labels = { woman = "Women" }, order = "frequency" },
  { column = "ethnic", kind = "categorical", groups = [
    { label = "White", codes = ["white"] },
    { label = "Other", codes = ["black", "other"] },
  ] },
]

[vocabularies]
gender = ["woman", "man"]
ethnic = ["white", "black", "other"]

[tables.participants]
description = "One record per participant"
key = "pid"
consent_date = "consented"
cluster = "site"
date_of_birth = "dob"
practice = "gp"
fields = [
  { name = "pid", type = "string", label = "Participant id" },
  { name = "nhs", type = "nhs_number", required = false },
  { name = "hospital_no", type = "string", required = false, identifier = "pseudonymise" },
  { name = "dob", type = "date", min = 1900-01-01, max = 2010-12-31 },
  { name = "gender", type = "code", vocabulary = "gender" },
  { name = "ethnic", type = "code", required = false, vocabulary = "ethnic" },
  { name = "site", type = "string" },
  { name = "gp", type = "string" },
  { name = "consented", type = "date" },
  { name = "score", type = "integer", min = 0, max = 27, unit = "points" },
  { name = "weight", type = "number", required = false, unit = "kg" },
  { name = "smoker", type = "boolean" },
  { name = "cigarettes", type = "integer", required_if = "[smoker] = true" },
  { name = "quit_plan", type = "string", required_if_unchecked = "datediff([consented], 'today', 'y') > 1" },
  { name = "comments", type = "string", required = false, free_text = true },
]
rules = [{ kind = "unique", fields = ["hospital_no"], code = "hospital_no_repeated", severity = "warning", description = "A hospital number repeats" }]

[tables.visits]
description = "Follow-up visits"
link = "pid"
date = "seen"
visit = "month"
fields = [
  { name = "pid", type = "string" },
  { name = "month", type = "visit" },
  { name = "seen", type = "date" },
  { name = "left", type = "date", required = false },
  { name = "drug", type = "drug", required = false },
  { name = "dose", type = "number", required = false },
  { name = "gp", type = "string", required = false },
]
rules = [
  { kind = "date_order", earlier = "seen", later = "left" },
  { kind = "no_overlap", start = "seen", end = "left" },
  { kind = "one_per_visit" },
  { kind = "foreign_key", field = "gp", table = "participants", column = "gp" },
  { kind = "dose", drug = "drug", dose = "dose" },
]

[[trusts]]
id = "A"
name = "Trust A"
directory = "trust_a"

[[trusts]]
id = "B"
name = "Trust B"

[[strata]]
id = "B-1"
trust = "B"

[[strata]]
id = "A-1"
trust = "A"
name = "Area one"

[[clusters]]
id = "C1"
area = "A-1"
practices = ["P1"]
arm = "INT"
beds = 10

[[clusters]]
id = "C2"
area = "A-1"
practices = ["P2"]
arm = "CTL"
beds = 12

[extracts.A.participants]
pattern = "p_*.xlsx"
format = "excel"
encoding = "utf-8"
delimiter = ";"
quotechar = "'"
decimal = ","
date_format = "%d/%m/%Y"
sheet = "Participants"
header_row = 3
use_value_labels = false

[extracts.A.participants.columns]
pid = "ID"
nhs = "NHS"
hospital_no = "Hospital"
dob = "DOB"
gender = "Gender"
site = "Site"
gp = "GP"
consented = "Consent"
score = "Score"

[extracts.A.participants.constants]
smoker = false

[extracts.A.participants.codes.gender]
1 = "woman"
2 = "man"

[extracts.A.visits]
pattern = "v_*.csv"
format = "csv"
hint = "export the visits again as CSV"

[extracts.A.visits.where]
Form = ["visit", "revisit"]
Site = "A"

[extracts.A.visits.filled]
Seen = []
Ticked = ["0"]

[extracts.B.participants]
like = "A"

[extracts.B.visits]
like = "A"
where = { Form = "visit", Site = "B" }

[extracts.A.visits.columns]
pid = "ID"
month = "Visit"
seen = "Seen"
"""


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("every_key")
    (d / "more.csv").write_text(EXTENSION, encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    shipped = resources.files("odtrial.data.dictionaries") / "medication_v1.csv"
    return tomllib.loads(SAMPLE.replace("{dictionary}", str(shipped)))


def _walk(data: Mapping[str, Any], where: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every table of a definition that is a described section: (key path, table)."""
    yield where, data
    for k, v in data.items():
        path = f"{where}.{k}" if where else str(k)
        if isinstance(v, Mapping) and _described(path):
            yield from _walk(v, path)
        elif isinstance(v, list) and _described(f"{path}[]"):
            for i, x in enumerate(v):
                if isinstance(x, Mapping):
                    yield from _walk(x, f"{path}[{i}]")


def _described(where: str) -> bool:
    try:
        ts.section(ts.section_path(where))
    except KeyError:
        return False
    return True


def _watched(
    monkeypatch: pytest.MonkeyPatch, raw: Mapping[str, Any], base: Path
) -> list[tuple[str, frozenset[str], Mapping[str, Any]]]:
    """Parse ``raw`` and record each closed key set the parsers check: (where, allowed, table)."""
    seen: list[tuple[str, frozenset[str], Mapping[str, Any]]] = []
    original = TomlReader.unknown_keys

    def spy(self: TomlReader, allowed: set[str]) -> None:
        seen.append((self.where, frozenset(allowed), self.data))
        original(self, allowed)

    monkeypatch.setattr(TomlReader, "unknown_keys", spy)
    parse_trial(raw, source="sample", base=base)
    return seen


def test_the_sample_uses_every_described_section_and_key(raw):
    used: dict[str, set[str]] = {}
    for where, table in _walk(raw):
        used.setdefault(ts.section_path(where), set()).update(table)
    for s in ts.SECTIONS:
        assert s.path in used, f"the sample has no {s.path!r}"
        missing = s.names - used[s.path]
        assert not missing, f"the sample does not use {s.path}: {sorted(missing)}"
        if any(k.placeholder for k in s.keys):
            assert used[s.path] - s.names, f"the sample names no <...> key in {s.path!r}"
        else:
            assert used[s.path] <= s.names, f"{s.path}: {sorted(used[s.path] - s.names)}"


def test_the_sample_parses_with_every_field_type_and_rule_kind(raw, base):
    t = parse_trial(raw, source="sample", base=base)
    types = {f["type"] for tb in raw["tables"].values() for f in tb["fields"]}
    assert types == set(FIELD_TYPES)
    assert {r.kind for spec in t.tables.values() for r in spec.rules} == set(RULE_KINDS)
    assert t.medication is not None and "testapine" in t.medication
    assert t.stratum_key == "area"


def test_each_closed_key_set_of_the_parsers_is_the_one_described(raw, base, monkeypatch):
    closed: set[str] = set()
    tables = frozenset(raw["tables"])
    for where, allowed, data in _watched(monkeypatch, raw, base):
        path = ts.section_path(where)
        assert _described(where), f"the parser checks the keys of {path!r}, not described"
        s = ts.section(path)
        if path == "extracts.<trust>":  # open: its keys are the declared tables
            assert s.open and allowed == tables
            continue
        if path == "tables.<name>.rules[]":  # the kind's parameters besides the common keys
            kind = RULE_KINDS[data["kind"]]
            want = {*ts.RULE_COMMON, *kind.required, *kind.optional}
            assert allowed == want and want <= s.names, where
        else:
            assert allowed == s.names, (
                f"{path}: parser {sorted(allowed)}, described {sorted(s.names)}"
            )
        closed.add(path)
    # every other section is described as open, and the open ones are not closed sets
    assert {s.path for s in ts.SECTIONS if not s.open} == closed
    rule_params = {p for k in RULE_KINDS.values() for p in (*k.required, *k.optional)}
    assert ts.section("tables.<name>.rules[]").names == {*ts.RULE_COMMON, *rule_params}


def test_open_sections_name_their_fixed_keys():
    assert ts.section("clusters[]").names == set(CLUSTER_KEYS)
    for s in ts.SECTIONS:
        if s.open:
            assert any(k.placeholder for k in s.keys), s.path


def test_the_meanings_cover_every_field_type_and_rule_parameter():
    assert set(ts.FIELD_TYPE_MEANINGS) == set(FIELD_TYPES)
    params = {p for k in RULE_KINDS.values() for p in (*k.required, *k.optional)}
    assert set(ts.RULE_PARAMETERS) == params


def _typo(name: str) -> str:
    return name + name[-1]


def test_a_misspelt_key_in_any_closed_section_is_refused_with_the_nearest(raw, base):
    done: set[str] = set()
    for where, table in _walk(raw):
        s = ts.section(ts.section_path(where))
        if s.open or s.path in done:
            continue
        done.add(s.path)
        name = max(sorted(s.names & set(table)), key=len)
        bad = copy.deepcopy(raw)
        target: Any = bad
        for part in _parts(where):
            target = target[part]
        target[_typo(name)] = target[name]
        with pytest.raises(ConfigErrors) as e:
            parse_trial(bad, source="sample", base=base)
        path = f"{where}.{_typo(name)}" if where else _typo(name)
        want = f"key '{path}' is not a known key; did you mean '{name}'?"
        assert any(want in m for m in e.value.messages), (want, e.value.messages)
    assert done == {s.path for s in ts.SECTIONS if not s.open}


def _parts(where: str) -> list[str | int]:
    out: list[str | int] = []
    for part in where.split(".") if where else []:
        head, *idx = part.replace("]", "").split("[")
        out.append(head)
        out.extend(int(i) for i in idx)
    return out


def test_section_path_names_the_described_section():
    assert ts.section_path("tables.phq9.fields[3]") == "tables.<name>.fields[]"
    assert ts.section_path("extracts.GM.scripts.codes.drug") == (
        "extracts.<trust>.<table>.codes.<field>"
    )
    assert ts.section_path("") == ""


def test_the_trial_modules_sketch_is_a_valid_definition():
    import textwrap

    import odtrial.trial

    sketch = textwrap.dedent((odtrial.trial.__doc__ or "").split("::\n", 1)[1])
    t = parse_trial(tomllib.loads(sketch), source="odtrial.trial docstring")
    assert t.stratum_key == "region" and t.cluster_attributes == ("size",)


def test_free_text_is_for_string_fields_only(raw, base):
    bad = copy.deepcopy(raw)
    fields = bad["tables"]["participants"]["fields"]
    score = next(i for i, f in enumerate(fields) if f["name"] == "score")
    fields[score]["free_text"] = True
    with pytest.raises(ConfigErrors) as e:
        parse_trial(bad, source="sample", base=base)
    want = (
        f"key 'tables.participants.fields[{score}].free_text' is only used for string "
        "fields (this one is integer)"
    )
    assert any(want in m for m in e.value.messages), e.value.messages
    t = parse_trial(raw, source="sample", base=base)
    assert [f.name for f in t.tables["participants"].fields if f.free_text] == ["comments"]
