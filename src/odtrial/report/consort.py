"""The CONSORT flow diagram of clusters and individuals by arm.

CONSORT 2010 extension for cluster trials (Campbell et al., BMJ 2012;345:e5661):
the flow counts clusters *and* individuals in each arm at each stage
(randomised, received the allocation, lost to follow-up, analysed).
Counts come from the data (:func:`flow_from_dataset`), never typed in.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch


@dataclass(frozen=True)
class ArmFlow:
    """Counts for one arm. ``*_clusters`` count clusters, the rest individuals."""

    label: str
    randomised_clusters: int
    received_clusters: int
    recruited: int  # individuals consented in the arm's clusters
    received: int
    lost_clusters: int  # clusters with no individual followed up
    lost: int  # individuals lost to follow-up (outcome missing)
    analysed_clusters: int
    analysed: int
    cluster_sizes: tuple[int, ...] = ()  # recruited per cluster, for mean and range
    excluded: int | None = None  # followed up but excluded from the analysis; None = not given

    def size_text(self) -> str:
        if not self.cluster_sizes:
            return ""
        s = self.cluster_sizes
        return f"Cluster size: mean {sum(s) / len(s):.1f}, range {min(s)}–{max(s)}"


@dataclass(frozen=True)
class Flow:
    clusters_assessed: int | None
    clusters_randomised: int
    arms: tuple[ArmFlow, ...]  # two arms, or one pooled arm in an open report
    outcome_label: str
    # participant records quarantined at ingest (queried; in no count below)
    held_back: int = 0


def flow_from_dataset(
    dataset: pd.DataFrame,
    clusters: pd.DataFrame,
    *,
    outcome: str,
    arm_labels: Mapping[str, str],
    arm_order: Sequence[str],
    outcome_label: str = "",
) -> Flow:
    """Count the flow from the analysis dataset (one row per participant) and the
    cluster table (one row per randomised cluster, column ``arm``).

    Every participant here received the allocation of their cluster (cluster-level
    intervention delivered by the service); lost to follow-up means the outcome is
    missing; analysed means it was observed.
    """
    arms = []
    for arm in arm_order:
        cl = clusters.loc[clusters["arm"] == arm, "cluster_id"]
        people = dataset[dataset["arm"] == arm]
        observed = people[outcome].notna()
        per_cluster = people.groupby("cluster_id", observed=True).size()
        analysed_per_cluster = people[observed].groupby("cluster_id", observed=True).size()
        sizes = tuple(int(per_cluster.get(c, 0)) for c in cl)
        analysed_clusters = int((analysed_per_cluster > 0).sum())
        arms.append(
            ArmFlow(
                label=arm_labels.get(arm, arm),
                randomised_clusters=len(cl),
                received_clusters=len(cl),
                recruited=len(people),
                received=len(people),
                lost_clusters=len(cl) - analysed_clusters,
                lost=int((~observed).sum()),
                analysed_clusters=analysed_clusters,
                analysed=int(observed.sum()),
                cluster_sizes=sizes,
                excluded=0,  # here everyone with the outcome observed is analysed
            )
        )
    return Flow(
        clusters_assessed=None,
        clusters_randomised=len(clusters),
        arms=tuple(arms),
        outcome_label=outcome_label,
    )


_STAGES = ("Enrolment", "Allocation", "Follow-up", "Analysis")
# what "lost" means here, printed under the diagram so every box can stay a plain count
LOST_NOTE = (
    "Lost to follow-up: primary outcome not observed. A cluster is lost to follow-up "
    "when no individual in it has the primary outcome observed."
)


def box_texts(flow: Flow) -> dict[str, object]:
    """The text of every box, as a trial statistician writes it: each count on its
    own line with its label (``Clusters lost to follow-up: 0``), zero shown as 0.

    Returns ``{"enrolment": str, "arms": [{"allocation", "follow-up", "analysis"}, ...]}``
    (one arm dict per column of the diagram).
    """
    top = []
    if flow.clusters_assessed is not None:
        top.append(f"Clusters assessed for eligibility: {flow.clusters_assessed}")
    top.append(f"Clusters randomised: {flow.clusters_randomised}")
    top.append(
        f"Individuals recruited in randomised clusters: {sum(a.recruited for a in flow.arms)}"
    )
    if flow.held_back:
        top.append(f"Further participant records held back at data validation: {flow.held_back}")
    arms = []
    for arm in flow.arms:
        head = f"Allocated to {arm.label}" if len(flow.arms) == 2 else f"{arm.label} (arms pooled)"
        alloc = [head, f"Clusters: {arm.randomised_clusters}; individuals: {arm.recruited}"]
        if arm.cluster_sizes:
            alloc.append(arm.size_text())
        alloc += [
            "Received allocated intervention",
            f"Clusters: {arm.received_clusters}; individuals: {arm.received}",
        ]
        analysis = [
            f"Clusters analysed: {arm.analysed_clusters}",
            f"Individuals analysed: {arm.analysed}",
        ]
        if arm.excluded is not None:
            analysis.append(f"Individuals excluded from analysis: {arm.excluded}")
        arms.append(
            {
                "allocation": "\n".join(alloc),
                "follow-up": "\n".join(
                    [
                        f"Clusters lost to follow-up: {arm.lost_clusters}",
                        f"Individuals lost to follow-up: {arm.lost}",
                    ]
                ),
                "analysis": "\n".join(analysis),
            }
        )
    return {"enrolment": "\n".join(top), "arms": arms}


def _box(ax, x: float, y: float, w: float, h: float, text: str, *, bold: bool = False) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2), w, h,
            boxstyle="round,pad=0.004,rounding_size=0.01", linewidth=1.0,
            edgecolor="#1f2d3d", facecolor="white",
        )
    )  # fmt: skip
    ax.text(x, y, text, ha="center", va="center", fontsize=9, wrap=False,
            fontweight="bold" if bold else "normal", linespacing=1.35)  # fmt: skip


def _arrow(ax, x0: float, y0: float, x1: float, y1: float) -> None:
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                arrowprops={"arrowstyle": "-|>", "lw": 1.0, "color": "#1f2d3d"})  # fmt: skip


def draw_consort(flow: Flow) -> Figure:
    """Draw the flow diagram; returns a matplotlib Figure (A4-portrait width).

    The box text is :func:`box_texts`; the meaning of "lost to follow-up" is
    given once under the diagram (:data:`LOST_NOTE`).
    """
    # drawn at the size it is printed (16 cm wide), so 9 pt text stays 9 pt on the page
    bottom = 0.08  # below the note: nothing to draw, so no paper spent on it
    fig = plt.figure(figsize=(6.5, 7.8 * (1 - bottom)))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom, 1)
    ax.axis("off")
    texts = box_texts(flow)
    # two arms side by side; an open report has one pooled column
    xs: tuple[float, ...] = (0.325, 0.775) if len(flow.arms) == 2 else (0.55,)
    w = 0.43
    # (centre, height) per stage: the allocation box holds the most lines
    boxes = {"Allocation": (0.685, 0.165), "Follow-up": (0.46, 0.09), "Analysis": (0.27, 0.115)}
    top_y, top_h = (0.895, 0.105) if flow.clusters_assessed is not None else (0.9, 0.085)
    # stage labels on the left, as CONSORT shows them
    for stage, y in (("Enrolment", top_y), *((k, v[0]) for k, v in boxes.items())):
        ax.text(0.04, y, stage, rotation=90, ha="center", va="center", fontsize=9.5,
                fontweight="bold", color="#1f4e79")  # fmt: skip
    _box(ax, 0.55, top_y, 0.70, top_h, str(texts["enrolment"]))
    arm_texts: list[dict[str, str]] = texts["arms"]  # type: ignore[assignment]
    for x, t in zip(xs, arm_texts, strict=True):
        (ya, ha), (yf, hf), (yn, hn) = boxes["Allocation"], boxes["Follow-up"], boxes["Analysis"]
        _arrow(ax, 0.55, top_y - top_h / 2, x, ya + ha / 2)
        _box(ax, x, ya, w, ha, t["allocation"])
        _arrow(ax, x, ya - ha / 2, x, yf + hf / 2)
        _box(ax, x, yf, w, hf, t["follow-up"])
        _arrow(ax, x, yf - hf / 2, x, yn + hn / 2)
        _box(ax, x, yn, w, hn, t["analysis"])
    ax.text(0.55, 0.165, f"Primary outcome: {flow.outcome_label}", ha="center", fontsize=9,
            style="italic", color="#444444")  # fmt: skip
    ax.text(0.55, 0.135, textwrap.fill(LOST_NOTE, 95), ha="center", va="top", fontsize=8,
            color="#444444", linespacing=1.3)  # fmt: skip
    return fig
