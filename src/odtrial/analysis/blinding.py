"""Which arms a report shows, and how: blinded (A/B), unblinded, or open (pooled).

* ``unblinded``: the real arms, intervention first. Only for a ``final`` plan
  and only when asked (``unblind=True``).
* ``blinded`` (the default): the arms are shown as A and B. Which real arm is
  A is decided by a keyed hash (HMAC-SHA256 of the trial name under the
  blinding key), so it is the same in every report of the trial, cannot be
  recomputed without the key, and is never written to any output.
* ``open``: arms pooled (a data monitoring committee's open report): no
  effect estimates at all.

The key is ``ODTRIAL_BLINDING_KEY`` if set, else the trial's pseudonymisation
key (its environment variable, or a synthetic trial's documented test key).

The arms' display labels come from the trial definition the plan names
(``trial.arms`` in its ``trial_config``); without one an arm is shown by its code.

In every report the model's treatment column ``treat`` is the indicator of the
*first displayed* arm, so every effect reads "first arm versus second" and a
direct fit on the written ``analysis_dataset.csv`` gives the same numbers.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from odtrial.errors import OdtrialError, PlanError
from odtrial.plan.model import Plan

if TYPE_CHECKING:
    from odtrial.trial import Trial

REPORT_TYPES: Final = ("blinded", "unblinded", "open")
KEY_ENV: Final = "ODTRIAL_BLINDING_KEY"
POOLED: Final = "all"


@dataclass(frozen=True)
class ArmView:
    """How the arms appear in one report.

    ``display[real]`` is the code shown for a real arm; ``codes`` and
    ``labels`` are the displayed arms in order; ``hidden_terms`` are the
    strings a blinded or open report must not contain.
    """

    report_type: str
    codes: tuple[str, ...]
    labels: tuple[str, ...]
    display: Mapping[str, str]
    hidden_terms: Mapping[str, str]  # term -> neutral replacement

    @property
    def comparative(self) -> bool:
        """True when the report compares two arms (not open)."""
        return self.report_type != "open"

    def arms_json(self) -> list[dict[str, str]]:
        return [{"code": c, "label": lab} for c, lab in zip(self.codes, self.labels, strict=True)]


def resolve_report_type(plan: Plan, *, unblind: bool, report_type: str | None) -> str:
    """Check the requested report type against the plan's status (one-line PlanError)."""
    if report_type is not None and report_type not in REPORT_TYPES:
        raise PlanError(
            f"report_type must be one of {', '.join(REPORT_TYPES)}, got {report_type!r}"
        )
    if report_type is None:
        report_type = "unblinded" if unblind else "blinded"
    elif unblind and report_type != "unblinded":
        raise PlanError(f"unblind=True contradicts report_type={report_type!r}")
    if report_type == "unblinded" and not plan.is_final:
        raise PlanError(
            f"{plan.path or 'plan'}: cannot unblind: the analysis plan is {plan.status!r}, "
            "unblinded results need a final, locked plan"
        )
    return report_type


def trial_definition(plan: Plan) -> Trial | None:
    """The trial definition the plan names (``plan.trial_config``), or None.

    None when the plan names none or the file is absent (a plan moved away from
    its trial): the report then shows arm codes and the freeze's own record.
    """
    if plan.trial_config is None or not Path(plan.trial_config).is_file():
        return None
    from odtrial.trial import load_trial

    return load_trial(plan.trial_config)


def blinding_key(plan: Plan, trial: Trial | None = None) -> bytes:
    """The key of the A/B hash.

    ``ODTRIAL_BLINDING_KEY``, held apart from the pseudonymisation key. Only a
    synthetic trial may fall back to its published test key (its blinding is
    then a demonstration, not a secret); a real trial without the variable is
    refused rather than blinded with a key someone else holds.
    """
    env = os.environ.get(KEY_ENV, "").strip()
    if env:
        return env.encode("utf-8")
    if trial is None:
        trial = trial_definition(plan)
    if trial is not None:
        if trial.synthetic and trial.pseudonymisation.test_key:
            return trial.pseudonymisation.test_key.encode("utf-8")
    raise PlanError(
        f"no blinding key: set {KEY_ENV} (a key kept apart from the pseudonymisation key) "
        "to make a blinded report"
    )


def first_is_a(arms: Sequence[str], *, key: bytes, trial_name: str) -> bool:
    """Whether the intervention arm (``arms[0]``) is shown as A."""
    digest = hmac.new(key, f"odtrial-blinding|{trial_name}|{arms[0]}|{arms[1]}".encode(), "sha256")
    return digest.digest()[0] % 2 == 0


def arm_view(
    arms: Sequence[str],
    report_type: str,
    *,
    key: bytes | None = None,
    trial_name: str = "",
    labels: Mapping[str, str] | None = None,
) -> ArmView:
    """Build the :class:`ArmView` of a report (``key`` needed for ``blinded``).

    ``labels`` maps an arm code to its display label (the trial definition's
    ``trial.arms``); an arm without one is shown by its code.
    """
    arms = tuple(str(a) for a in arms)
    labels = {a: (labels or {}).get(a, a) for a in arms}
    # labels are nouns ("the intervention"), codes are used as adjectives ("the X trial")
    nouns, adjectives = ("the intervention", "the control"), ("intervention", "control")
    hidden = {a: adjectives[i] for i, a in enumerate(arms)}
    hidden.update({labels[a]: nouns[i] for i, a in enumerate(arms) if labels[a] != a})
    if report_type == "unblinded":
        return ArmView(report_type, arms, tuple(labels[a] for a in arms), {a: a for a in arms}, {})
    if report_type == "open":
        return ArmView(
            report_type, (POOLED,), ("All participants",), {a: POOLED for a in arms}, hidden
        )
    if key is None:
        raise PlanError("a blinded report needs the blinding key")
    a_first = first_is_a(arms, key=key, trial_name=trial_name)
    real_a, real_b = (arms[0], arms[1]) if a_first else (arms[1], arms[0])
    return ArmView(report_type, ("A", "B"), ("Arm A", "Arm B"), {real_a: "A", real_b: "B"}, hidden)


# a determiner before a label goes with it: "or their usual care" -> "or the control"
_DETERMINER = r"(?:\b(?:the|their|its|our|your|his|her|this|that|a|an)\s+)?"


def _pattern(term: str) -> re.Pattern[str]:
    # codes (all capitals) as whole words and case-sensitive; labels anywhere, any case
    if term.isupper():
        return re.compile(rf"\b{re.escape(term)}\b")
    return re.compile(_DETERMINER + re.escape(term), re.IGNORECASE)


def _replacement(neutral: str) -> Callable[[re.Match[str]], str]:
    """The neutral phrase, capitalised where it starts a sentence (a label may be a
    proper name, capitalised anywhere: only the position decides)."""

    def repl(m: re.Match[str]) -> str:
        before = m.string[: m.start()]
        starts = before.strip() == "" or re.search(r"[.!?]\s+$", before) is not None
        return neutral[:1].upper() + neutral[1:] if starts else neutral

    return repl


def scrub(obj: Any, terms: Mapping[str, str]) -> Any:
    """Replace every hidden term in the strings of ``obj`` by its neutral phrase
    ("the intervention", "the control": no A/B mapping); keys are left alone."""
    if not terms:
        return obj
    ordered = sorted(terms, key=lambda t: (-len(t), t))  # labels before the codes inside them
    patterns = [(_pattern(t), terms[t] if t.isupper() else _replacement(terms[t])) for t in ordered]

    def fix(s: str) -> str:
        for p, repl in patterns:
            s = p.sub(repl, s)
        return s

    def walk(o: Any) -> Any:
        if isinstance(o, str):
            return fix(o)
        if isinstance(o, Mapping):
            return {k: walk(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [walk(v) for v in o]
        return o

    return walk(obj)


def check_blind(text: str, terms: Mapping[str, str], where: str) -> None:
    """Refuse output that names an arm in a blinded or open report."""
    for t in terms:
        if _pattern(t).search(text):
            raise OdtrialError(
                f"{where}: blinded output would reveal arm {t!r}; refusing to write it"
            )


__all__ = [
    "KEY_ENV",
    "REPORT_TYPES",
    "ArmView",
    "arm_view",
    "blinding_key",
    "check_blind",
    "first_is_a",
    "resolve_report_type",
    "scrub",
    "trial_definition",
]
