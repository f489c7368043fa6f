"""``docs/reference.md`` is what the code generates, and the generator covers the code.

The committed file must equal :func:`odtrial.reference.render` (regenerate it with
``odtrial reference --out docs/reference.md``); the plan keys' meanings are exactly
the schema's keys; every switch case, rule code, rule kind, field type and trial
section is in the reference; a derivation parameter's default is its function's.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from odtrial import reference
from odtrial import trial_schema as ts
from odtrial.cli import main
from odtrial.data.catalogue import RULE_KINDS, RULES
from odtrial.data.derivations import KINDS
from odtrial.plan.keys import MEANINGS
from odtrial.plan.schema import DERIVATION_KINDS, MODEL_KINDS, SENSITIVITY_METHODS
from odtrial.trial_tables import FIELD_TYPES

DOC = Path(__file__).resolve().parents[1] / "docs" / "reference.md"


@pytest.fixture(scope="module")
def text() -> str:
    return reference.render()


def test_the_committed_reference_is_the_generated_one(text):
    assert DOC.read_text(encoding="utf-8") == text, (
        "docs/reference.md is stale: run `odtrial reference --out docs/reference.md`"
    )


def test_every_plan_key_has_a_meaning_and_every_meaning_a_key():
    paths = reference.plan_paths()
    assert not paths - set(MEANINGS), (
        f"plan keys without a meaning: {sorted(paths - set(MEANINGS))}"
    )
    assert not set(MEANINGS) - paths, f"meanings of no plan key: {sorted(set(MEANINGS) - paths)}"


def test_every_choice_of_the_plan_has_its_own_table():
    cases = {(s.path, s.case) for s in reference.plan_sections()}
    for kind in MODEL_KINDS:
        assert ("outcomes.<id>.model", f'kind = "{kind}"') in cases
    for method in SENSITIVITY_METHODS:
        assert ("sensitivity[].options", f'method = "{method}"') in cases
    assert set(KINDS) == set(DERIVATION_KINDS)
    for kind in DERIVATION_KINDS:
        assert (reference.DERIVATION_PATH, f'kind = "{kind}"') in cases


def _section(text: str, heading: str) -> str:
    start = text.index(f"### {heading}\n")
    end = text.find("\n### ", start + 1)
    return text[start : end if end > 0 else None]


def test_the_reference_names_every_code_kind_type_and_section(text):
    for code, rule in RULES.items():
        assert f"| `{code}` | {rule.severity} |" in text
    for kind, rk in RULE_KINDS.items():
        assert f"| `{kind}` | `{rk.code}` |" in text
    for name, (kind, _) in FIELD_TYPES.items():
        assert f"| `{name}` | `{kind}` |" in text
    for s in ts.SECTIONS:
        if s.path:
            block = _section(text, f"`{s.path}`" + (f" (or `{s.alias}`)" if s.alias else ""))
            for k in s.keys:
                assert f"| `{k.name}` | {k.type} |" in block, (s.path, k.name)


def test_a_derivation_parameters_default_is_its_functions(text):
    shown = 0
    for kind, fn in KINDS.items():
        block = _section(text, f"`{kind}`")
        for name, p in inspect.signature(fn).parameters.items():
            if p.default is inspect.Parameter.empty or p.default is None:
                continue
            param = "class" if name == "drug_class" else name
            value = reference._toml_value(p.default)
            row = re.search(rf"^\| `{param}` \|[^|]*\|[^|]*\| `([^`]*)` \|", block, re.M)
            assert row is not None and row.group(1) == value, (kind, param)
            shown += 1
    assert shown >= 5


def test_the_command_prints_and_writes_the_reference(tmp_path, capsys, text):
    with pytest.raises(SystemExit) as e:
        main(["reference"])
    assert e.value.code == 0
    assert capsys.readouterr().out == text
    out = tmp_path / "reference.md"
    out.write_text(reference.MARKER + "\nold\n", encoding="utf-8")  # written before: replaced
    with pytest.raises(SystemExit) as e:
        main(["reference", "--out", str(out)])
    assert e.value.code == 0
    assert out.read_text(encoding="utf-8") == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reference.md"]


def test_the_command_never_overwrites_a_file_it_did_not_write(tmp_path, capsys):
    mine = tmp_path / "notes.md"
    mine.write_text("# my notes\n", encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        main(["reference", "--out", str(mine)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "was not written by odtrial reference" in err and len(err.strip().splitlines()) == 1
    assert mine.read_text(encoding="utf-8") == "# my notes\n"
    with pytest.raises(SystemExit) as e:
        main(["reference", "--out", str(tmp_path / "no_such" / "r.md")])
    assert e.value.code == 2 and "no such folder" in capsys.readouterr().err


ONBOARDING = DOC.parent / "onboarding.md"


def test_the_onboarding_guide_quotes_the_shipped_trial_as_it_is():
    text = ONBOARDING.read_text(encoding="utf-8")
    quotes = re.findall(r"<!-- quote: (\S+) -->\n```toml\n(.*?)```", text, flags=re.S)
    assert len(quotes) >= 15 and text.count("<!-- quote:") == len(quotes)
    root = DOC.parents[1]
    for path, block in quotes:
        source = (root / path).read_text(encoding="utf-8")
        assert block in source, f"docs/onboarding.md quotes {path} wrongly:\n{block}"
    assert "(reference.md)" in text and "(derivations.md)" in text
