"""The head every small hand-written test trial shares (imported by test_*.py here)."""

from __future__ import annotations


def trial_head(name: str, test_key: str, *, data_cutoff: str = "2025-12-31") -> str:
    """``[trial]`` (arms I and C, 6 months' follow-up), a 6-month visit of 45 days either
    side, no minimum age and a public test key: the TOML a definition's tables follow."""
    return f"""
[trial]
name = "{name}"
synthetic = true
arms = ["I", "C"]
follow_up_months = 6
data_cutoff = {data_cutoff}

[visits]
schedule = [{{ month = 6, window_days = 45 }}]

[eligibility]
min_age = 0

[pseudonymisation]
test_key = "{test_key}"
"""
