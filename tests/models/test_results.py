from __future__ import annotations

import dataclasses
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from odtrial.errors import ModelError
from odtrial.models.results import Diagnostics, ModelResults


def _res(df_value: float) -> ModelResults:
    names = ["Intercept", "arm"]
    return ModelResults(
        model="glmm",
        family="binomial",
        link="logit",
        formula="y ~ arm",
        params=pd.Series([0.1, 0.5], index=names),
        cov=pd.DataFrame(np.diag([0.04, 0.01]), index=names, columns=names),
        df=pd.Series([df_value, df_value], index=names),
        nobs=100,
        n_clusters=10,
        llf=-60.0,
        n_estimated=3,
    )


def test_inference_uses_t_with_finite_df_and_z_with_inf():
    r = _res(8.0)
    assert r.bse["arm"] == pytest.approx(0.1)
    assert r.pvalues["arm"] == pytest.approx(2 * stats.t.sf(5.0, 8))
    assert r.conf_int(0.9).loc["arm", "upper"] == pytest.approx(0.5 + stats.t.ppf(0.95, 8) * 0.1)
    z = _res(np.inf)
    assert z.pvalues["arm"] == pytest.approx(2 * stats.norm.sf(5.0))
    assert z.aic == pytest.approx(126.0)


def test_results_are_immutable():
    r = _res(8.0)
    with pytest.raises(ValueError, match="read-only"):
        r._params[0] = 3.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.nobs = 3  # type: ignore[misc]
    got = r.params
    got.iloc[1] = 9.0
    assert r.params["arm"] == 0.5
    assert list(r.to_frame().columns) == [
        "estimate",
        "std_error",
        "statistic",
        "df",
        "p_value",
        "ci_lower",
        "ci_upper",
    ]
    assert "converged: True" in r.summary()


# --- notebook display (_repr_html_) -------------------------------------------------


class _Cells(HTMLParser):
    """The text of every cell of every table, by table class (entities decoded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._sup = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("class") or ""
            self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "sup":
            self._sup = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "sup":
            self._sup = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None and not self._sup:  # footnote marks are not values
            self._cell.append(data)


def _cells(page: str) -> dict[str, list[list[str]]]:
    p = _Cells()
    p.feed(page)
    return p.tables


def _grid(page: str) -> pd.DataFrame:
    """The coefficient table of the HTML view as strings, indexed by term."""
    head, *body = _cells(page)["odtrial-grid"]
    return pd.DataFrame(body, columns=head).set_index("term")


def _shown_matches(text: str, value: float) -> None:
    """``text`` is ``value`` rounded to the decimals (or significant digits) shown."""
    text = text.strip()
    if text.startswith("<"):  # a p-value below the smallest shown
        assert value < float(text[1:])
        return
    if "e" in text:
        mant = text.split("e")[0]
        digits = len(mant.split(".")[1]) if "." in mant else 0
        assert float(text) == pytest.approx(value, rel=0.5 * 10.0**-digits * 1.0001)
    else:
        digits = len(text.split(".")[1]) if "." in text else 0
        assert abs(float(text) - value) <= 0.5 * 10.0**-digits * 1.0001, (text, value)


def _ci(text: str) -> tuple[str, str]:
    lo, hi = text.split(" to ")
    return lo, hi


def _make(model: str, family: str, link: str, *, names=("Intercept", "arm"), **kw) -> ModelResults:
    p = len(names)
    rng = np.random.default_rng(len(model) + len(family))
    a = rng.normal(size=(p, p))
    return ModelResults(
        model=model,
        family=family,
        link=link,
        formula=kw.pop("formula", "y ~ arm"),
        params=pd.Series(rng.normal(size=p), index=list(names)),
        cov=a @ a.T * 0.05 + np.eye(p) * 0.01,
        df=kw.pop("df", 11.0),
        nobs=240,
        n_clusters=14,
        **kw,
    )


@pytest.mark.parametrize(
    ("model", "family", "link", "extra", "label"),
    [
        ("glmm", "binomial", "logit", {}, "odds ratio"),
        ("gee", "binomial", "logit", {}, "odds ratio"),
        ("glmm", "poisson", "log", {}, "rate ratio"),
        ("glmm", "negbin", "log", {}, "rate ratio"),
        ("gee", "poisson", "log", {}, "rate ratio"),
        ("cox", "cox", "log", {}, "hazard ratio"),
        ("cluster-level", "binomial", "log", {"effect": "risk ratio"}, "risk ratio"),
        ("cluster-level", "poisson", "log", {"effect": "rate ratio"}, "rate ratio"),
    ],
)
def test_html_shows_the_exponentiated_effect_named_by_link_and_family(
    model, family, link, extra, label
):
    names = ("arm", "age") if model == "cox" else ("Intercept", "arm", "age")
    r = _make(model, family, link, names=names, extra=extra)
    assert r.ratio_name == label
    page = r._repr_html_()
    g = _grid(page)
    assert list(g.index) == list(names)
    ci_head = [c for c in g.columns if c.startswith("95% CI (")]
    assert label in g.columns and ci_head == [f"95% CI ({label})"]
    want, ci = np.exp(r.params), np.exp(r.conf_int())
    for term in names:
        _shown_matches(g.loc[term, label], want[term])
        lo, hi = _ci(g.loc[term, ci_head[0]])
        _shown_matches(lo, ci.loc[term, "lower"])
        _shown_matches(hi, ci.loc[term, "upper"])
        # the log-scale columns are shown too, from the same to_frame()
        _shown_matches(g.loc[term, "estimate"], r.params[term])
        _shown_matches(g.loc[term, "SE"], r.bse[term])
        _shown_matches(g.loc[term, "p"], r.pvalues[term])
    # the intercept's exp is a level, not a ratio: flagged and explained
    if "Intercept" in names:
        assert "<sup>*</sup>" in page and "exp(Intercept) is the" in page
    else:
        assert "exp(Intercept)" not in page
    # the text summary carries the same columns
    assert label.replace(" ", "_") in r.summary()


def test_identity_link_shows_no_ratio_and_refuses_to_exponentiate():
    r = _make("lmm", "gaussian", "identity")
    assert r.ratio_name is None
    g = _grid(r._repr_html_())
    assert list(g.columns) == ["estimate", "SE", "df", "t", "p", "95% CI"]
    assert "ratio" not in r._repr_html_()
    with pytest.raises(ModelError, match="exponentiate=True needs a log or logit link"):
        r.to_frame(exponentiate=True)


def test_html_header_gives_the_fit_and_its_problems():
    diag = Diagnostics(
        converged=False,
        singular=True,
        hessian_positive_definite=False,
        max_abs_gradient=3e-2,
        n_iterations=57,
        warnings=("Satterthwaite df failed; used between-within",),
    )
    r = _make("glmm", "binomial", "logit", df=np.inf, diagnostics=diag, extra={"nagq": 25},
              df_method="z", llf=-150.5, n_estimated=3, cluster_var=0.12)  # fmt: skip
    page = r._repr_html_()
    facts = {row[0]: row[1] for row in _cells(page)["odtrial-facts"]}
    assert facts["model"] == "GLMM" and facts["family / link"] == "binomial / logit"
    assert facts["observations"] == "240" and facts["clusters"] == "14"
    assert facts["estimation"] == "ML (adaptive Gauss–Hermite, 25 points)"
    assert facts["df method"] == "z"
    assert facts["converged"] == "False" and facts["singular"] == "True"
    assert facts["Hessian positive definite"] == "False"
    assert "Satterthwaite df failed; used between-within" in page
    # problems stand out
    assert "<td class='odtrial-warn'>False</td>" in page
    assert "z" in _grid(page).columns and "∞" in _grid(page)["df"].tolist()


def test_estimation_is_read_from_each_fitter_s_record():
    assert _make("glmm", "binomial", "logit", extra={"estimation": "REML", "nagq": 1}).estimation == "REML (Laplace)"  # fmt: skip
    assert _make("glmm", "binomial", "logit", extra={"nagq": 1}).estimation == "ML (Laplace)"
    assert _make("lmm", "gaussian", "identity", extra={"reml": False}).estimation == "ML"
    gee = _make("gee", "binomial", "logit", extra={"cov_struct": "exchangeable", "cov_type": "mancl-derouen"})  # fmt: skip
    assert (
        gee.estimation == "GEE, exchangeable working correlation, mancl-derouen sandwich variance"
    )
    cox = _make("cox", "cox", "log", names=("arm",), extra={"ties": "efron", "cov_type": "kauermann-carroll", "n_events": 31})  # fmt: skip
    assert cox.estimation == "partial likelihood (efron ties), kauermann-carroll variance"
    assert {r[0]: r[1] for r in _cells(cox._repr_html_())["odtrial-facts"]}["events"] == "31"


def test_html_escapes_every_user_text():
    evil = '<script>alert("x")</script>&'
    diag = Diagnostics(converged=True, warnings=("<img src=x onerror=alert(1)>",))
    r = _make("glmm", "binomial", "logit", names=("Intercept", evil),
              formula="y ~ <b>arm</b>", diagnostics=diag)  # fmt: skip
    page = r._repr_html_()
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in page
    # and the text survives: the browser shows exactly the name
    assert evil in _grid(page).index
    assert {row[0]: row[1] for row in _cells(page)["odtrial-facts"]}["formula"] == "y ~ <b>arm</b>"


def test_notebook_display_uses_the_html_view():
    pytest.importorskip("IPython")
    from IPython.core.formatters import DisplayFormatter

    r = _make("gee", "poisson", "log")
    data, _ = DisplayFormatter().format(r)
    assert data["text/html"] == r._repr_html_()
    assert data["text/plain"].startswith("<ModelResults gee poisson")


def test_real_fits_display_their_ratio():
    from odtrial.models import cluster_level, fit_cox, fit_gee, icc

    rng = np.random.default_rng(4)
    d = pd.DataFrame({"g": np.repeat(np.arange(12), 15)})
    d["arm"] = d["g"] % 2
    d["y"] = rng.binomial(1, 0.3 + 0.15 * d["arm"])
    d["days"] = np.floor(rng.exponential(200, len(d)) * np.exp(-0.4 * d["arm"]))
    d["relapse"] = (d["days"] < 365).astype(int)
    d["days"] = d["days"].clip(upper=365)
    fits = {
        "odds ratio": fit_gee("y ~ arm", d, cluster="g", family="binomial"),
        "hazard ratio": fit_cox("~ arm", d, duration="days", event="relapse", cluster="g"),
        "risk ratio": cluster_level("y", d, cluster="g", treatment="arm", scale="ratio"),
    }
    for label, res in fits.items():
        g = _grid(res._repr_html_())
        term = res.names[-1]
        _shown_matches(g.loc[term, label], float(np.exp(res.params[term])))
        lo, hi = _ci(g.loc[term, f"95% CI ({label})"])
        _shown_matches(lo, float(np.exp(res.conf_int().loc[term, "lower"])))
        _shown_matches(hi, float(np.exp(res.conf_int().loc[term, "upper"])))
    ic = icc(d, outcome="y", cluster="g")
    cells = _cells(ic._repr_html_())["odtrial-grid"]
    assert cells[0][:2] == ["ICC", "95% CI"]
    _shown_matches(cells[1][0], ic.estimate)
    lo, hi = _ci(cells[1][1])
    _shown_matches(lo, ic.lower)
    _shown_matches(hi, ic.upper)


def test_marginal_effects_display():
    from odtrial.models import fit_glmm, marginal_effects

    rng = np.random.default_rng(5)
    d = pd.DataFrame({"g": np.repeat(np.arange(12), 15)})
    d["arm"] = d["g"] % 2
    d["y"] = rng.binomial(1, 0.3 + 0.15 * d["arm"])
    me = marginal_effects(fit_glmm("y ~ arm", d, cluster="g"), d, treatment="arm", levels=(0, 1))
    rows = _cells(me._repr_html_())["odtrial-grid"]
    frame = me.to_frame()
    assert [r[0] for r in rows[1:]] == list(frame.index)
    for r in rows[1:]:
        _shown_matches(r[1], frame.loc[r[0], "estimate"])
        lo, hi = _ci(r[3])
        _shown_matches(lo, frame.loc[r[0], "ci_lower"])
        _shown_matches(hi, frame.loc[r[0], "ci_upper"])
