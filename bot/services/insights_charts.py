"""The pictures of the insights: the network map, the weekly activity and the coverage gaps, as PNG bytes.

matplotlib (and networkx's drawing) is imported on first use only: it is slow to import and most commands never
draw. Figures are made with the object API on the Agg backend (no window, no global pyplot state), one at a time,
with a seeded layout and no timestamp in the file: the same data gives the same bytes. An empty network, a single
city or a quiet period gives an honest chart whose title says so, never an error.
"""

from __future__ import annotations

import io
import threading
import warnings
from knowledge.text import shorten

from .insights import CoverageGaps, Figures, InsightsReport, NetworkMap

NO_DATA = "no data yet"
LAYOUT_SEED = 7
DPI = 100
_LOCK = threading.Lock()  # matplotlib is not thread-safe: draw one figure at a time
PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f")
INTRODUCED = "#d62728"


def network_png(network: NetworkMap, *, title: str = "Network map") -> bytes:
    """Cities coloured by their first peer group; links weighted by shared-challenge similarity, bold and red
    where the cities were introduced."""
    with _LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # glyphs a font lacks (a city name in another script) are not errors
        import networkx as nx

        fig, ax = _figure(8.0, 6.0)
        names = [name for name, _ in network.cities]
        if not names:
            return _png(fig, _empty(ax, f"{title}: {NO_DATA} (no cities)"))
        groups = sorted({group for _, group in network.cities}, key=lambda g: (g == "none", g))
        colour = {g: ("#bbbbbb" if g == "none" else PALETTE[i % len(PALETTE)]) for i, g in enumerate(groups)}
        graph = nx.Graph()
        graph.add_nodes_from(names)
        scores = [link.similarity for link in network.links if link.similarity is not None]
        low, high = (min(scores), max(scores)) if scores else (0.0, 1.0)
        for link in network.links:
            strength = 0.5 if link.similarity is None else 0.2 + 0.8 * ((link.similarity - low) / (high - low)
                                                                        if high > low else 1.0)
            graph.add_edge(link.a, link.b, weight=strength, introduced=link.introduced)
        if len(names) == 1:
            pos = {names[0]: (0.0, 0.0)}
        else:
            pos = nx.spring_layout(graph, seed=LAYOUT_SEED, weight="weight", k=2.5 / len(names) ** 0.5,
                                   iterations=200)
        plain = [(a, b) for a, b, d in graph.edges(data=True) if not d["introduced"]]
        met = [(a, b) for a, b, d in graph.edges(data=True) if d["introduced"]]
        nx.draw_networkx_edges(graph, pos, ax=ax, edgelist=plain, edge_color="#999999",
                               width=[0.8 + 3.0 * graph.edges[e]["weight"] for e in plain])
        nx.draw_networkx_edges(graph, pos, ax=ax, edgelist=met, edge_color=INTRODUCED,
                               width=[3.5 + 3.0 * graph.edges[e]["weight"] for e in met])
        group_of = dict(network.cities)
        nx.draw_networkx_nodes(graph, pos, ax=ax, nodelist=names, node_size=900, edgecolors="#333333",
                               node_color=[colour[group_of[n]] for n in names])
        nx.draw_networkx_labels(graph, pos, ax=ax, labels={n: n for n in names}, font_size=9)
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], marker="o", linestyle="", markersize=10, markerfacecolor=colour[g],
                          markeredgecolor="#333333", label=f"peer group: {g}") for g in groups]
        if plain:
            handles.append(Line2D([], [], color="#999999", linewidth=2, label="shared challenges"))
        if met:
            handles.append(Line2D([], [], color=INTRODUCED, linewidth=4, label="introduced in the period"))
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=8, frameon=False)
        if len(names) == 1:
            title = f"{title}: one city, no links yet"
        elif not network.links:
            title = f"{title}: {len(names)} cities, no shared challenges recorded yet"
        else:
            cut = f" (similarity ≥ {network.cut:.2f}, and each city's closest peer)" if network.cut is not None else ""
            title = f"{title}: {len(names)} cities, {len(network.links)} links{cut}"
        ax.set_title(title, fontsize=11)
        ax.margins(0.15)
        ax.set_axis_off()
        return _png(fig, title)


def weekly_png(figures: Figures) -> bytes:
    """Questions asked, answered and rated helpful, per ISO week."""
    with _LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig, ax = _figure(9.0, 4.8)
        where = f" - {figures.city}" if figures.city else ""
        title = f"Weekly activity{where}, {figures.period}"
        series = [("questions", "asked", "#1f77b4"), ("answered", "answered", "#2ca02c"),
                  ("helpful", "rated helpful", "#ff7f0e")]
        values = {key: [getattr(w.activity, key) for w in figures.weeks] for key, _, _ in series}
        if not any(any(v) for v in values.values()):
            return _png(fig, _empty(ax, f"{title}: {NO_DATA}"))
        from matplotlib.ticker import MaxNLocator

        n = len(figures.weeks)
        width = 0.8 / len(series)
        for k, (key, label, colour) in enumerate(series):
            ax.bar([i + (k - 1) * width for i in range(n)], values[key], width=width, label=label, color=colour)
        step = max(1, (n + 11) // 12)
        ax.set_xticks(range(0, n, step))
        ax.set_xticklabels([figures.weeks[i].week for i in range(0, n, step)], rotation=45, ha="right", fontsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("questions")
        ax.set_title(title, fontsize=11)
        ax.legend(fontsize=8, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        return _png(fig, title)


def gaps_png(gaps: CoverageGaps, *, top: int = 10, asked: int | None = None) -> bytes:
    """The biggest groups of unanswered or not-helpful questions, labelled by their most central question.
    ``asked``: the questions asked in the same weeks, so an empty chart says why (none asked, or none missed)."""
    with _LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shown = gaps.clusters[:top]
        fig, ax = _figure(9.0, max(3.0, 1.2 + 0.45 * len(shown)))
        if not shown:
            why = "no question asked yet" if asked == 0 else "every question found an answer"
            return _png(fig, _empty(ax, f"Coverage gaps: {NO_DATA} ({why})"))
        from matplotlib.ticker import MaxNLocator

        labels = [shorten(c.label, 60) for c in shown]
        sizes = [c.size for c in shown]
        ax.barh(range(len(shown)), sizes, color="#d62728", height=0.6)
        ax.set_yticks(range(len(shown)))
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
        for i, cluster in enumerate(shown):
            cities = shorten(", ".join(c for c, _ in cluster.cities), 40)
            ax.text(cluster.size, i, f"  {cities}", va="center", fontsize=7, color="#444444")
        ax.set_xlim(0, max(sizes) * 1.6)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("questions")
        more = f" (the {len(shown)} biggest)" if gaps.groups > len(shown) else ""
        title = f"Coverage gaps: {gaps.questions} question(s) in {gaps.groups} group(s){more}"
        ax.set_title(title, fontsize=11)
        ax.spines[["top", "right"]].set_visible(False)
        return _png(fig, title)


def charts(report: InsightsReport) -> dict[str, bytes]:
    """``{"network.png": ..., "weekly.png": ..., "gaps.png": ...}`` for a coordinator's report."""
    return {"network.png": network_png(report.network), "weekly.png": weekly_png(report.figures),
            "gaps.png": gaps_png(report.gaps, asked=report.figures.totals.questions)}


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _empty(ax, title: str) -> str:
    ax.set_title(title, fontsize=11)
    ax.text(0.5, 0.5, NO_DATA, ha="center", va="center", fontsize=14, color="#999999", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    return title


def _png(fig, title: str) -> bytes:
    """The figure as PNG; its title is also stored as the file's ``Title`` text (for screen readers and tests)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None, "Title": title})
    return buffer.getvalue()

