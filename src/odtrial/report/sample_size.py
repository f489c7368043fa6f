"""The report's sample-size paragraph, computed from the plan's inputs.

``results.json`` records the plan's ``[design.sample_size]`` inputs under
``design.sample_size``; the paragraph is :meth:`odtrial.plan.SampleSize.statement`
of them (``odtrial.design``'s analytic calculation, the same as ``odtrial
power``), never a text typed beside the numbers. A results file from before
the inputs were data holds a text there, which is shown as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def sample_size_paragraph(
    design: Mapping[str, Any], outcomes: Sequence[Mapping[str, Any]] = ()
) -> str | None:
    """The paragraph for ``results["design"]`` (None when it has no sample size).

    ``outcomes`` are ``results["outcomes"]``: the sized outcome is named by its label.
    """
    value = design.get("sample_size")
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    from odtrial.plan.sample_size import SampleSize

    ss = SampleSize.from_mapping(value)
    label = next((str(o.get("label")) for o in outcomes if o.get("id") == ss.outcome), None)
    if label:
        label = label[:1].lower() + label[1:] if not label[:2].isupper() else label
    return ss.statement(label)


__all__ = ["sample_size_paragraph"]
