"""Health economics for cluster randomised trials (the NICE reference case).

* EQ-5D utilities from published value sets (:func:`eq5d_utility`) and the
  NICE's 5L-to-3L mapping by age and sex (:func:`map_5l_to_3l`, the NICE DSU
  table shipped);
* QALYs by area under the curve, discounted after the first year (:func:`qalys`);
* costs from resource use and a versioned unit-cost table, inflated to one
  price year (:func:`participant_costs`, :func:`intervention_costs`);
* the cost-effectiveness analysis itself (:func:`cea`): incremental cost and
  QALYs, ICER, incremental net monetary benefit and the acceptability curve,
  by a bivariate multilevel model (default) or the two-stage cluster
  bootstrap with shrinkage correction; figures of the CE plane and the CEAC.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from odtrial._lazy import lazy_getattr

_EXPORTS = {
    "EconError": "_errors",
    "ValueSet": "eq5d",
    "available_value_sets": "eq5d",
    "eq5d_utility": "eq5d",
    "load_value_set": "eq5d",
    "map_5l_to_3l": "mapping",
    "discount_factor": "qaly",
    "qalys": "qaly",
    "PriceIndex": "costs",
    "UnitCost": "costs",
    "UnitCostTable": "costs",
    "intervention_costs": "costs",
    "load_intervention_costs": "costs",
    "load_price_index": "costs",
    "load_unit_costs": "costs",
    "participant_costs": "costs",
    "BivariateFit": "bivariate",
    "fit_bivariate": "bivariate",
    "CEAResult": "ce_analysis",
    "cea": "ce_analysis",
    "CEAScenario": "simulate",
    "simulate_cea_trial": "simulate",
    "plot_ce_plane": "figures",
    "plot_ceac": "figures",
}

__getattr__ = lazy_getattr(__name__, _EXPORTS)
__all__ = [
    "BivariateFit",
    "CEAResult",
    "CEAScenario",
    "EconError",
    "PriceIndex",
    "UnitCost",
    "UnitCostTable",
    "ValueSet",
    "available_value_sets",
    "cea",
    "discount_factor",
    "eq5d_utility",
    "fit_bivariate",
    "intervention_costs",
    "load_intervention_costs",
    "load_price_index",
    "load_unit_costs",
    "load_value_set",
    "map_5l_to_3l",
    "participant_costs",
    "plot_ce_plane",
    "plot_ceac",
    "qalys",
    "simulate_cea_trial",
]

if TYPE_CHECKING:
    from odtrial.econ._errors import EconError
    from odtrial.econ.bivariate import BivariateFit, fit_bivariate
    from odtrial.econ.ce_analysis import CEAResult, cea
    from odtrial.econ.costs import (
        PriceIndex,
        UnitCost,
        UnitCostTable,
        intervention_costs,
        load_intervention_costs,
        load_price_index,
        load_unit_costs,
        participant_costs,
    )
    from odtrial.econ.eq5d import ValueSet, available_value_sets, eq5d_utility, load_value_set
    from odtrial.econ.figures import plot_ce_plane, plot_ceac
    from odtrial.econ.mapping import map_5l_to_3l
    from odtrial.econ.qaly import discount_factor, qalys
    from odtrial.econ.simulate import CEAScenario, simulate_cea_trial
