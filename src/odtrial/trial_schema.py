"""Every key of a trial definition (``trial.toml``), described once.

The parsers (:mod:`odtrial.trial`, :mod:`odtrial.trial_tables`) decide what is
valid; this module says what each key means, for ``docs/reference.md``
(``odtrial reference``). Allowed values and key sets the parsers keep in
constants are imported from them, not copied. ``tests/test_trial_schema.py``
checks both ways that the keys described here are exactly the keys the parsers
accept, so a key added to one and not the other fails the tests.

Paths name a key's place in the file: ``tables.<name>.fields[]`` is an entry of
the ``fields`` array of any ``[tables.<name>]``; a name in angle brackets is
one the trial chooses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from odtrial.data.canonical import BUILTIN_VOCABULARIES, IDENTIFIER_ACTIONS, PARTICIPANTS
from odtrial.data.catalogue import RULE_KINDS
from odtrial.trial import (
    BASELINE_KINDS,
    BASELINE_ORDERS,
    CLUSTER_FIXED,
    DATE_FORMATS_SPECIAL,
    FORMATS,
    STRATA_TABLE,
)
from odtrial.trial_tables import EVENT_ROLES, FIELD_TYPES, PARTICIPANT_ROLES, RESERVED


@dataclass(frozen=True)
class Key:
    """One key of a section.

    ``required`` is True, False, or the condition under which the key is
    required, as text; ``default`` is the value taken when the key is absent,
    as it would be written in TOML (or in words); ``values`` the allowed values
    when they are a fixed set. A ``name`` in angle brackets stands for names the
    trial chooses (an open table).
    """

    name: str
    type: str
    meaning: str
    required: bool | str = False
    default: str | None = None
    values: tuple[str, ...] = ()

    @property
    def placeholder(self) -> bool:
        return self.name.startswith("<")


@dataclass(frozen=True)
class Section:
    """A TOML table (or each table of an array, path ending ``[]``) of the definition.

    ``open``: besides its fixed keys, the section takes names the trial chooses
    (its placeholder keys), so the parser has no closed key set for it.
    ``alias``: another path the parser reads as this section.
    """

    path: str
    meaning: str
    keys: tuple[Key, ...]
    required: bool | str = False
    open: bool = False
    alias: str | None = None

    @property
    def names(self) -> frozenset[str]:
        """The fixed key names (placeholders left out)."""
        return frozenset(k.name for k in self.keys if not k.placeholder)

    def key(self, name: str) -> Key:
        for k in self.keys:
            if k.name == name:
                return k
        raise KeyError(f"{self.path}.{name}")


def _codes(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"`{v}`" for v in values)


# -- meanings the reference tables use (the tests check they cover the parsers' sets) --

#: Declared field types (:data:`odtrial.trial_tables.FIELD_TYPES`): what each holds.
FIELD_TYPE_MEANINGS: Final[dict[str, str]] = {
    "string": "text, kept as written",
    "integer": "a whole number",
    "number": "a number (integer or decimal)",
    "date": "a calendar date, read with the extract's `date_format`",
    "boolean": "true or false (vocabulary `yes_no`); map the source's codes with `codes`",
    "code": "one value of the field's `vocabulary` (a `[vocabularies]` entry)",
    "visit": "a scheduled visit: one of the `[visits]` months (vocabulary `visit`)",
    "drug": "a generic drug name of the medication dictionary (vocabulary `drug`); "
    "brand names resolve to their generic",
    "nhs_number": "an NHS number (text): Modulus 11 checked, never frozen raw",
}

#: Parameters of the rule kinds (:data:`odtrial.data.catalogue.RULE_KINDS`).
RULE_PARAMETERS: Final[dict[str, str]] = {
    "earlier": "the date field that must come first",
    "later": "the date field that must not be before `earlier`",
    "start": "the date field starting each interval",
    "end": "the date field ending each interval",
    "fields": "the fields whose values together must not repeat",
    "field": "the field of this table holding the reference",
    "table": "the declared table referred to",
    "column": "the field of `table` the reference must be found in",
    "drug": "the drug field (type `drug`)",
    "dose": "the daily dose field, in mg",
}

#: Keys every rule takes besides its kind's parameters.
RULE_COMMON: Final = ("kind", "code", "severity", "description")


def _rule_keys() -> tuple[Key, ...]:
    common = (
        Key(
            "kind",
            "string",
            "the generic check (see [Rule kinds](#rule-kinds))",
            True,
            values=tuple(RULE_KINDS),
        ),
        Key(
            "code",
            "string",
            "the rule code its queries carry (lower-case name); a code of the catalogue "
            "takes its severity",
            default="the kind's code",
        ),
        Key(
            "severity",
            "string",
            "`error` quarantines the record, `warning` keeps it and raises a query",
            default="the code's severity in the catalogue, else the kind's code's",
            values=("error", "warning"),
        ),
        Key("description", "string", "what the rule means, shown with its queries", default='""'),
    )
    params: list[Key] = []
    for p, meaning in RULE_PARAMETERS.items():
        kinds = [k for k, rk in RULE_KINDS.items() if p in (*rk.required, *rk.optional)]
        required = [k for k in kinds if p in RULE_KINDS[k].required]
        params.append(
            Key(
                p,
                "array of strings" if p == "fields" else "string",
                f"{meaning} (kind {', '.join(kinds)})",
                f"with kind {', '.join(required)}" if required else False,
            )
        )
    return (*common, *params)


_STRATUM_KEY = (
    "the cluster key naming its stratum (e.g. `region`): the key whose values are "
    "stratum ids, else the column of `[randomisation] strata`, else `stratum`"
)

SECTIONS: Final[tuple[Section, ...]] = (
    Section(
        "",
        "The top level of `trial.toml`: its tables.",
        (
            Key("trial", "table", "name, registration, arms, follow-up, data cut-off", True),
            Key("visits", "table", "the follow-up visit schedule", True),
            Key("eligibility", "table", "the minimum age at consent", True),
            Key("pseudonymisation", "table", "where the pseudonymisation key comes from"),
            Key("randomisation", "table", "the randomisation record and its design"),
            Key("medication", "table", "the trial's own medication dictionary"),
            Key("baseline", "table", "participant fields the baseline table adds"),
            Key("trusts", "array of tables", "the sites that send extracts", True),
            Key(STRATA_TABLE, "array of tables", "the randomisation strata", True),
            Key("clusters", "array of tables", "the randomised units", True),
            Key("vocabularies", "table", "the code lists of `code` fields"),
            Key("tables", "table", "the trial's tables, one `[tables.<name>]` each", True),
            Key("extracts", "table", "each trust's extract of each table", True),
        ),
        required=True,
    ),
    Section(
        "trial",
        "The trial itself.",
        (
            Key("name", "string", "the trial's name, as the report shows it", True),
            Key("registration", "string", "its registration (e.g. an ISRCTN number)", default='""'),
            Key(
                "synthetic",
                "boolean",
                "synthetic data: allows `[pseudonymisation] test_key`",
                default="false",
            ),
            Key(
                "arms",
                "array of 2 strings, or of 2 tables",
                "the two arm codes, intervention first; or `{ code, label }` tables to give "
                "the report's labels",
                True,
            ),
            Key(
                "follow_up_months",
                "integer",
                "months of follow-up from consent (positive); the default derivation window",
                True,
            ),
            Key(
                "data_cutoff",
                "date",
                "the data cut-off: later dates are impossible; follow-up is clipped to it",
                True,
            ),
        ),
        required=True,
    ),
    Section(
        "trial.arms[]",
        "An arm given as a table (both arms then are tables).",
        (
            Key("code", "string", "the arm code (as the randomisation record writes it)", True),
            Key("label", "string", "the arm's name in the report", default="the code"),
        ),
    ),
    Section(
        "visits",
        "The scheduled follow-up assessments.",
        (
            Key(
                "schedule",
                "array of tables",
                "one `{ month, window_days }` per visit (at least one); neighbouring "
                "windows must not overlap",
                True,
            ),
        ),
        required=True,
    ),
    Section(
        "visits.schedule[]",
        "A visit.",
        (
            Key(
                "month",
                "integer",
                "months after consent the visit is due (positive, each once, not after "
                "`trial.follow_up_months`)",
                True,
            ),
            Key(
                "window_days",
                "integer",
                "days either side of the due date a record is accepted (positive); "
                "outside it: `visit_out_of_window`",
                "unless both sides below are given",
            ),
            Key(
                "window_before_days",
                "integer",
                "days before the due date a record is accepted, when not `window_days` (0 or more)",
            ),
            Key(
                "window_after_days",
                "integer",
                "days after the due date a record is accepted, when not `window_days` (0 or more)",
            ),
            Key(
                "placeholder",
                "boolean",
                "`true`: a visit `odtrial init` wrote where the exports give no visit month; "
                "`odtrial check` reports it until you put the protocol's visits here (without "
                "this key)",
                default="false",
            ),
        ),
    ),
    Section(
        "eligibility",
        "Who may be recruited.",
        (
            Key(
                "min_age",
                "integer",
                "completed years at consent (0 to 120); younger: `under_min_age` "
                "(needs the participants' `date_of_birth`)",
                True,
            ),
        ),
        required=True,
    ),
    Section(
        "pseudonymisation",
        "The key of the keyed pseudonyms (HMAC-SHA256) that replace identifiers.",
        (
            Key(
                "key_env",
                "string",
                "the environment variable holding the key (`odtrial ingest --key-file` "
                "overrides it)",
                default='"ODTRIAL_PSEUDONYM_KEY"',
            ),
            Key(
                "test_key",
                "string",
                "a public key used when the variable is unset; only with `trial.synthetic = true`",
            ),
        ),
    ),
    Section(
        "randomisation",
        "The allocation: its record and the design the report describes.",
        (
            Key(
                "record",
                "string",
                "the folder `odtrial randomise` wrote, relative to `trial.toml`; ingest "
                "verifies it and takes the arms from it",
            ),
            Key(
                "strata",
                "table",
                "the cluster field the allocation was stratified by, with its label",
            ),
            Key(
                "balance",
                "array of tables",
                "the numeric cluster fields the allocation balanced, with labels "
                "(must match the record's logged parameters)",
            ),
        ),
    ),
    Section(
        "randomisation.strata",
        "The stratification variable.",
        (
            Key(
                "column",
                "string",
                "`trust` or the trial's stratum key (e.g. `region`)",
                True,
            ),
            Key("label", "string", "its label in the report", default="the column"),
        ),
    ),
    Section(
        "randomisation.balance[]",
        "A balance variable.",
        (
            Key(
                "column",
                "string",
                "`n_practices` or a numeric cluster attribute",
                True,
            ),
            Key("label", "string", "its label in the report", default="the column"),
            Key(
                "decimals",
                "integer",
                "decimals of its mean and SD in the report (0 to 6)",
                default="1",
            ),
        ),
    ),
    Section(
        "medication",
        "The medication dictionary (the shipped one's CSV format); paths relative to `trial.toml`.",
        (
            Key("dictionary", "string", "a file replacing the shipped dictionary"),
            Key("extend", "string", "a file of rows added to it (or to `dictionary`)"),
        ),
    ),
    Section(
        "baseline",
        "Rows the baseline table adds, by arm.",
        (Key("variables", "array of tables", "one per frozen participants field"),),
    ),
    Section(
        "baseline.variables[]",
        "A baseline row.",
        (
            Key(
                "column",
                "string",
                "a frozen participants column (a declared field, or one odtrial adds such "
                "as `age_at_consent`); each once",
                True,
            ),
            Key("label", "string", "its label in the report", default="the column"),
            Key(
                "kind",
                "string",
                "`binary`: Yes/No, n (%) of a boolean field; `continuous`: mean (SD) of an "
                "integer or number field; `categorical`: n (%) per level of a `code` field",
                default='"binary"',
                values=BASELINE_KINDS,
            ),
            Key(
                "decimals",
                "integer",
                "decimals of the mean and SD (0 to 6)",
                default="1",
            ),
            Key(
                "labels",
                "table",
                "categorical: code -> its row's label (one level per vocabulary code)",
                default="each code, capitalised with spaces",
            ),
            Key(
                "groups",
                "array of tables",
                "categorical: levels that combine codes, each code in exactly one (not with "
                "`labels`)",
            ),
            Key(
                "order",
                "string",
                "categorical: levels as declared (the vocabulary's or the groups' order), or "
                "most common first",
                default='"declared"',
                values=BASELINE_ORDERS,
            ),
        ),
    ),
    Section(
        "baseline.variables[].labels",
        "A categorical variable's row labels.",
        (Key("<code>", "string", "the label of this vocabulary code's row"),),
        open=True,
    ),
    Section(
        "baseline.variables[].groups[]",
        "A level of a categorical variable that counts several codes.",
        (
            Key("label", "string", "its row's label (each once)", True),
            Key("codes", "array", "the vocabulary codes it counts (at least one)", True),
        ),
    ),
    Section(
        "trusts[]",
        "A site (trust, board or centre) that sends extracts.",
        (
            Key("id", "string", "its id, used in `[[strata]]` and `[extracts.<trust>]`", True),
            Key("name", "string", "its full name", True),
            Key(
                "directory",
                "string",
                "its extract folder under the trial folder",
                default="the id",
            ),
        ),
        required=True,
    ),
    Section(
        "strata[]",
        "A randomisation stratum: clusters are allocated 1:1 within it.",
        (
            Key("id", "string", "its id, named by each cluster's stratum key", True),
            Key("trust", "string", "the trust it belongs to (a `[[trusts]]` id)", True),
            Key("name", "string", "its name in the report", default="the id"),
        ),
        required=True,
    ),
    Section(
        "clusters[]",
        "A randomised unit.",
        (
            Key("id", "string", "the cluster id the participants table names", True),
            Key("<stratum>", "string", _STRATUM_KEY + "; the value is a stratum id", True),
            Key(
                "practices",
                "array of strings",
                "its member GP practice codes (each in one cluster)",
                "when the participants table declares `practice` (refused otherwise)",
            ),
            Key(
                "arm",
                "string",
                "its arm, one of `trial.arms`; taken from the randomisation record when there "
                "is one",
            ),
            Key(
                "<attribute>",
                "number",
                "a numeric cluster attribute the trial declares (e.g. `ward_beds`, `staff_fte`): "
                "every cluster gives the same ones as the first; not "
                f"{_codes(CLUSTER_FIXED)}",
            ),
        ),
        required=True,
        open=True,
    ),
    Section(
        "vocabularies",
        "The trial's code lists; a field of type `code` names one. Built in: "
        f"{_codes(BUILTIN_VOCABULARIES)}.",
        (
            Key(
                "<vocabulary>",
                "array of strings or integers",
                "its canonical codes, each once (not a built-in name)",
            ),
        ),
        open=True,
    ),
    Section(
        "tables",
        f"The trial's tables; `{PARTICIPANTS}` is required.",
        (
            Key(
                "<name>",
                "table",
                "a table (lower-case name: letters, digits, `_`)",
                f"yes, `{PARTICIPANTS}`",
            ),
        ),
        required=True,
        open=True,
    ),
    Section(
        "tables.<name>",
        f"A table. Roles {_codes(PARTICIPANT_ROLES)} are for `{PARTICIPANTS}` only; "
        f"{_codes(EVENT_ROLES)} for every other table. Each role names one of the table's "
        "fields.",
        (
            Key("description", "string", "what the table holds", default='""'),
            Key("fields", "array of tables", "its fields, at least one", True),
            Key("rules", "array of tables", "checks of generic kinds on its records"),
            Key(
                "key",
                "string",
                "the participant key: a required string or integer field identifying each "
                "participant (pseudonymised in the freeze)",
                f"for `{PARTICIPANTS}`",
            ),
            Key(
                "consent_date",
                "string",
                "the date of consent (a required date field): follow-up starts here",
                f"for `{PARTICIPANTS}`",
            ),
            Key(
                "cluster",
                "string",
                "the recruiting cluster's id (a required string, integer or code field)",
                f"for `{PARTICIPANTS}`",
            ),
            Key(
                "date_of_birth",
                "string",
                "a date field: the freeze gives `age_at_consent` instead, checked against `[eligibility] min_age`",
            ),
            Key(
                "practice",
                "string",
                "the GP practice code (a string field); clusters then list their `practices`",
            ),
            Key(
                "link",
                "string",
                "the participants field its records name their participant by: the key, an "
                "`nhs_number` field or an `identifier` field (a required field here)",
                f"for every table but `{PARTICIPANTS}`",
            ),
            Key(
                "date",
                "string",
                "the event date (a date field): queried before consent or after follow-up; "
                "the derivations' default date",
            ),
            Key(
                "visit",
                "string",
                "the visit (a field of type `visit`): checked against its window; the "
                "derivations' default visit",
            ),
        ),
    ),
    Section(
        "tables.<name>.fields[]",
        "A field.",
        (
            Key(
                "name",
                "string",
                f"lower-case name (letters, digits, `_`), each once; not {_codes(RESERVED)}",
                True,
            ),
            Key(
                "type",
                "string",
                "its type (see [Field types](#field-types))",
                True,
                values=tuple(FIELD_TYPES),
            ),
            Key(
                "required",
                "boolean",
                "an empty value is `missing_value` (quarantined)",
                default="true",
            ),
            Key(
                "vocabulary",
                "string",
                "the `[vocabularies]` entry its values come from",
                "with type `code` (refused otherwise)",
            ),
            Key(
                "min",
                "number or date",
                "lowest valid value (integer, number and date fields); below: `out_of_range`",
            ),
            Key(
                "max",
                "number or date",
                "highest valid value (integer, number and date fields); above: `out_of_range`",
            ),
            Key("unit", "string", "its unit, shown in query messages"),
            Key("label", "string", "its name in query messages", default="the name, with spaces"),
            Key(
                "identifier",
                "string",
                "an identifying field: `pseudonymise` freezes it as `<name>_pseudonym`, "
                "`drop` leaves it out; other tables may link by it",
                values=IDENTIFIER_ACTIONS,
            ),
            Key(
                "required_if",
                "string",
                "required when this condition on the record's fields holds, e.g. "
                '`"[admitted] = true and [nights] > 0"` (`[field]` compared by `=`, `<>`, '
                "`<`, `<=`, `>`, `>=` with a quoted code or date, a number, `true`/`false`; "
                "`= ''`: empty; `and`, `or`, parentheses); empty then: `missing_value`. "
                "Not with `required = true`",
            ),
            Key(
                "required_if_unchecked",
                "string",
                "a condition odtrial cannot evaluate under which the field is required, "
                "as written (e.g. REDCap branching logic with functions); an empty value "
                "is the warning `unchecked_requirement`. Not with `required = true` or "
                "`required_if`",
            ),
            Key(
                "free_text",
                "boolean",
                "typed text that may name people (a notes field; string fields only): "
                "frozen for the data manager, left out of the analysis dataset",
                default="false",
            ),
        ),
    ),
    Section(
        "tables.<name>.rules[]",
        "A rule of a generic kind; its other keys are the kind's parameters, each naming "
        "a field of this table unless said otherwise.",
        _rule_keys(),
    ),
    Section(
        "extracts",
        "What each trust sends.",
        (
            Key(
                "<trust>",
                "table",
                f"a `[[trusts]]` id; every trust sends its `{PARTICIPANTS}` table",
                "every trust",
            ),
        ),
        required=True,
        open=True,
    ),
    Section(
        "extracts.<trust>",
        "A trust's extracts, one per table it sends (a trust may send only some tables; "
        "derivations on a table it does not send are not-collected for its participants).",
        (Key("<table>", "table", "a declared table's extract", f"yes, `{PARTICIPANTS}`"),),
        open=True,
    ),
    Section(
        "extracts.<trust>.<table>",
        "One extract: the file, its dialect, and how its columns and codes map onto the "
        "table's fields.",
        (
            Key(
                "like",
                "string",
                "a trust id: this extract is that trust's extract of the same table, with the "
                "keys given here in place of its own (e.g. only `where`); that one may not "
                "itself be `like` another",
            ),
            Key(
                "pattern",
                "string",
                "file name pattern (glob) in the trust's folder",
                "yes (or from `like`)",
            ),
            Key("format", "string", "file format", "yes (or from `like`)", values=FORMATS),
            Key("encoding", "string", "text encoding (Python codec name)", default='"utf-8"'),
            Key("delimiter", "string", "CSV field separator (one character)", default='","'),
            Key("quotechar", "string", "CSV quote character", default="'\"'"),
            Key("decimal", "string", "decimal mark of numbers in text", default='"."'),
            Key(
                "date_format",
                "string",
                "how dates are written: a strftime pattern (with `%`), or one of the "
                "values (`native`: the reader gives dates)",
                default='"%Y-%m-%d"',
                values=DATE_FORMATS_SPECIAL,
            ),
            Key(
                "sheet",
                "string or integer",
                "Excel sheet name or 0-based index; extracts of one workbook may each read "
                "their own sheet (a table per sheet), but one table is read from one sheet of "
                "a file",
                default="0",
            ),
            Key(
                "header_row",
                "integer",
                "CSV and Excel: the line (CSV) or sheet row (Excel) that names the columns, "
                "counted from 1; the lines or rows above it (a title) are skipped. A query's "
                "`source_row` counts the records below it, so a record is at sheet row "
                "`source_row + header_row` (for CSV, line `source_row + header_row` when no "
                "value holds a line break)",
                default="1",
            ),
            Key(
                "use_value_labels",
                "boolean",
                "SPSS/Stata/SAS: read value labels instead of the stored codes",
                default="true",
            ),
            Key(
                "columns",
                "table",
                "field -> source column; every required field is mapped or a constant",
                "yes (or from `like`)",
            ),
            Key("codes", "table", "per field: source value -> canonical value"),
            Key("constants", "table", "field -> one value for every row (a field not collected)"),
            Key(
                "where",
                "table",
                "the file's rows that are this extract's records, by source column values "
                "(a file several extracts share, such as one REDCap records export for "
                "every site, event and repeating instrument); a row no extract of the "
                "file takes is quarantined (`unmatched_row`)",
                default="every row",
            ),
            Key(
                "filled",
                "table",
                "of the rows `where` selects, only those with a value in one of these "
                "source columns are records (a form left empty at an event is no record); "
                "a row no extract takes for this reason: `empty_record`",
                default="every selected row",
            ),
            Key(
                "hint",
                "string",
                "a line added to a fatal error about the file, e.g. how to export it again",
            ),
        ),
    ),
    Section(
        "extracts.<trust>.<table>.where",
        "Row selection: a row is this extract's when its value in each named column "
        "(stripped text) is one of those given. Rows keep the file's own row numbers.",
        (
            Key(
                "<column>",
                "string, integer or array of them",
                'the accepted value(s) of this source column; `""` accepts an empty cell',
            ),
        ),
        open=True,
    ),
    Section(
        "extracts.<trust>.<table>.filled",
        "Columns of which one must hold a value for a selected row to be a record.",
        (
            Key(
                "<column>",
                "array of strings",
                "a source column, with the values that count as blank besides an empty "
                'cell (e.g. `["0"]` for an unticked checkbox)',
            ),
        ),
        open=True,
    ),
    Section(
        "extracts.<trust>.<table>.columns",
        "The column map.",
        (Key("<field>", "string", "the source column holding the field"),),
        required=True,
        open=True,
    ),
    Section(
        "extracts.<trust>.<table>.codes",
        "Code maps, one per field.",
        (Key("<field>", "table", "the field's code map"),),
        open=True,
    ),
    Section(
        "extracts.<trust>.<table>.codes.<field>",
        "A field's code map (fields of type `code`, `boolean`, `visit`, `drug`). A source "
        "value with no entry is looked up in the vocabulary (case-insensitive; a drug: by "
        "generic or brand name); else `out_of_vocabulary`.",
        (
            Key(
                "<source value>",
                "string, integer or boolean",
                "the canonical value (a vocabulary code, a visit month, true/false, a "
                "drug name) for this source value, compared as text",
            ),
        ),
        open=True,
    ),
    Section(
        "extracts.<trust>.<table>.constants",
        "Fields this trust does not collect, each given one value (not an identifier, not "
        "also a column).",
        (Key("<field>", "string, number, boolean or date", "the value of every row"),),
        open=True,
    ),
)


def section(path: str) -> Section:
    """The section at ``path`` (``tables.<name>.fields[]``; an alias is accepted)."""
    for s in SECTIONS:
        if path in (s.path, s.alias):
            return s
    raise KeyError(path)


def section_path(where: str) -> str:
    """The described path of a concrete key path (``tables.visits.fields[3]`` ->
    ``tables.<name>.fields[]``)."""
    parts = re.sub(r"\[\d+\]", "[]", where).split(".") if where else []
    if parts and parts[0] == "tables" and len(parts) > 1:
        parts[1] = "<name>"
    elif parts and parts[0] == "extracts":
        for i, placeholder in ((1, "<trust>"), (2, "<table>"), (4, "<field>")):
            if len(parts) > i:
                parts[i] = placeholder
    return ".".join(parts)
