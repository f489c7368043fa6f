"""Multiple imputation for cluster randomised trials.

:func:`impute` builds ``m`` completed datasets with a multilevel imputation
model (a cluster random intercept in every conditional model);
:meth:`Imputations.fit` fits any odtrial model to each and pools them by
Rubin's rules with Barnard–Rubin degrees of freedom (:func:`pool`);
:func:`delta_adjust` and :func:`tipping_point` are the missing-not-at-random
sensitivity analyses; :mod:`odtrial.missing.diagnostics` checks the chains and
compares observed with imputed values. See docs/missing_data.md.
"""

from __future__ import annotations

from odtrial._lazy import lazy_getattr

_EXPORTS = {
    "Imputations": "imputation",
    "impute": "imputation",
    "PooledResults": "pooling",
    "pool": "pooling",
    "barnard_rubin": "pooling",
    "delta_adjust": "delta",
    "tipping_point": "delta",
    "TippingPoint": "delta",
    "convergence": "diagnostics",
    "plot_trace": "diagnostics",
    "plot_imputed": "diagnostics",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
