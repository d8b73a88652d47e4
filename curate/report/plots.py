"""The report's charts, drawn with matplotlib (Agg, no display) and returned as PNG bytes.

Every function accepts empty input and still returns a readable picture (a chart with a "nothing to show" note
is better than a crash or a blank), so an output where a stage removed nothing renders like any other.
"""

import io
import math

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

KEPT, REJECTED, OTHER = "#3b7dd8", "#d8573b", "#9aa5b1"
DPI = 80
PANEL_COLUMNS = 4


def to_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return buffer.getvalue()


def _empty(ax, note: str) -> None:
    ax.text(0.5, 0.5, note, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_xticks([])
    ax.set_yticks([])


def funnel(steps: list[dict], unit: str) -> bytes:
    """Documents (and tokens or bytes) alive after each step: kept part and rejected part of what entered."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * max(len(steps), 2) + 1.2))
    size_in, size_out = f"{unit}_in", f"{unit}_out"
    for ax, (label, key_in, key_out, rejected_key) in zip(axes, [("documents", "docs_in", "docs_out", "docs"),
                                                                 (unit, size_in, size_out, unit)]):
        if not steps:
            _empty(ax, "no funnel in the manifest")
            continue
        names = [s["step"] for s in steps][::-1]
        out = np.array([s.get(key_out, 0) for s in steps][::-1], dtype=float)
        rejected = np.array([sum(r.get(rejected_key, 0) for r in s.get("rejected", {}).values()) for s in steps][::-1],
                            dtype=float)
        ax.barh(names, out, color=KEPT, label="passed on")
        ax.barh(names, rejected, left=out, color=REJECTED, label="rejected here")
        # what a step removed without a rejection row (a transform shrinking text): the rest of what came in
        shrunk = np.maximum(np.array([s.get(key_in, 0) for s in steps][::-1], dtype=float) - out - rejected, 0)
        if shrunk.any():
            ax.barh(names, shrunk, left=out + rejected, color=OTHER, label="removed from kept text")
        for y, (value, total) in enumerate(zip(out, out + rejected + shrunk)):
            ax.text(total, y, f" {_short(value)}", va="center", fontsize=8)
        ax.set_title(f"{label}: in and out of each step", fontsize=10)
        ax.margins(x=0.15)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return to_png(fig)


def _short(value: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.0f}"


def _bins(values: np.ndarray):
    """Integer bins for small-range counts, log bins for lengths spanning orders of magnitude, else 40."""
    low, high = float(values.min()), float(values.max())
    if low == high:
        return np.array([low - 0.5, high + 0.5]), False
    if np.all(values == np.round(values)) and high - low <= 40:
        return np.arange(low - 0.5, high + 1.5), False
    if low >= 0 and high >= 1000 * max(np.percentile(values, 5), 1):
        return np.geomspace(max(low, 1), high, 40), True
    return np.linspace(low, high, 41), False


def signal_grid(signals: list) -> bytes:
    return to_png(signal_figure(signals))


def signal_figure(signals: list):
    """Small multiples: one histogram per signal (kept, rejected by the owning stage, rejected by another step,
    stacked), the applied thresholds as dashed lines; one legend for all, above the panels, covering none."""
    columns = min(PANEL_COLUMNS, max(len(signals), 1))
    rows = max(math.ceil(len(signals) / columns), 1)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.5 * rows), squeeze=False)
    for ax in axes.flat[len(signals):]:
        ax.axis("off")
    for ax, signal in zip(axes.flat, signals):
        values = signal.values
        if values.size == 0:
            _empty(ax, "no values")
            continue
        bins, log = _bins(values)
        if log:
            ax.set_xscale("log")
        elif np.all(values == np.round(values)):  # counts: whole-number ticks, never -0.5 .. 1.5
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        here = f"rejected by {signal.owner}" if signal.owner else None
        series = [(signal.kept, KEPT, "kept"), (signal.rejected_here, REJECTED, here),
                  (signal.rejected_other, OTHER, "rejected by another step" if signal.owner else "rejected")]
        series = [s for s in series if s[2] is not None]
        ax.hist([np.clip(v, bins[0], bins[-1]) for v, _, _ in series], bins=bins, stacked=True, histtype="stepfilled",
                color=[c for _, c, _ in series], label=[label for _, _, label in series])
        low, high = bins[0], bins[-1]
        off_scale = []
        for threshold in signal.thresholds:
            sign = "≥" if threshold.kind == "min" else "≤"
            if low - 0.25 * (high - low) <= threshold.value <= high + 0.25 * (high - low):
                ax.axvline(threshold.value, color="black", linestyle="--", linewidth=1)
                ax.annotate(f"{sign} {threshold.value:g}", (threshold.value, 1), xycoords=("data", "axes fraction"),
                            fontsize=7, ha="left", va="top")
            else:  # a line far outside the data would squash the histogram into one bar
                off_scale.append(f"{sign} {threshold.value:g}")
        if off_scale:
            ax.text(0.98, 0.95, "threshold " + ", ".join(off_scale) + " (off scale)", transform=ax.transAxes,
                    fontsize=7, ha="right", va="top")
        ax.set_title(signal.column, fontsize=9)
        ax.tick_params(labelsize=7)
    legend = {label: handle for ax in axes.flat for handle, label in zip(*ax.get_legend_handles_labels())}
    if legend:
        fig.legend(legend.values(), legend.keys(), loc="upper center", ncol=len(legend), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))  # room for the legend above the panels
    return fig


def before_after(keys: list, before: dict, after: dict, title: str) -> bytes:
    """Horizontal bars of `keys` (the most frequent first), their counts before and after curation."""
    fig, ax = plt.subplots(figsize=(8, 0.32 * max(len(keys), 2) + 1))
    if not keys:
        _empty(ax, "nothing to show")
    else:
        y = np.arange(len(keys))[::-1]
        ax.barh(y + 0.2, [before.get(k, 0) for k in keys], height=0.4, color=OTHER, label="before (all read)")
        ax.barh(y - 0.2, [after.get(k, 0) for k in keys], height=0.4, color=KEPT, label="after (kept)")
        ax.set_yticks(y)
        ax.set_yticklabels([str(k)[:40] for k in keys], fontsize=8)
        ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return to_png(fig)


def bars(labels: list[str], values: list[float], title: str, unit: str) -> bytes:
    fig, ax = plt.subplots(figsize=(8, 0.32 * max(len(labels), 2) + 1))
    if not labels:
        _empty(ax, "nothing to show")
    else:
        y = np.arange(len(labels))[::-1]
        ax.barh(y, values, color=KEPT)
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=8)
        for yy, value in zip(y, values):
            ax.text(value, yy, f" {value:,.3g} {unit}", va="center", fontsize=8)
        ax.margins(x=0.2)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return to_png(fig)


def curves(series: list[dict], title: str) -> bytes:
    """Evaluation curves: {label, color_key, points: [[x, y], ...]}; one colour per color_key (a variant)."""
    fig, ax = plt.subplots(figsize=(8, 4))
    keys = list(dict.fromkeys(s["color_key"] for s in series))
    palette = plt.get_cmap("tab10")
    for s in series:
        points = np.asarray(s["points"], dtype=float).reshape(-1, 2)
        if len(points):
            ax.plot(points[:, 0], points[:, 1], color=palette(keys.index(s["color_key"]) % 10), label=s["label"],
                    linewidth=1.5, marker="o", markersize=2.5)
    if not any(len(s["points"]) for s in series):
        _empty(ax, "no curve points")
    else:
        ax.set_xlabel("training tokens seen", fontsize=9)
        ax.set_ylabel("bits per byte", fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return to_png(fig)


def intervals(rows: list[dict], targets: list[str]) -> bytes:
    """A forest plot per target: each row's mean difference with its 95% interval ({label, targets: {target:
    {mean, low, high}}}), and the line at 0. Left of it: the step helps."""
    columns = min(len(targets), PANEL_COLUMNS) or 1
    lines = math.ceil(len(targets) / columns) or 1
    fig, axes = plt.subplots(lines, columns, figsize=(3.2 * columns + 2.5, (0.35 * max(len(rows), 2) + 1) * lines),
                             squeeze=False, sharey=True)
    for ax in axes.flat[len(targets):]:
        ax.axis("off")
    labels = [r["label"] for r in rows][::-1]
    for ax, target in zip(axes.flat, targets):
        for y, row in enumerate(rows[::-1]):
            d = row["targets"].get(target)
            if not d:
                continue
            if d.get("low") is None:
                ax.plot(d["mean"], y, "o", color=OTHER)
                continue
            color = KEPT if d["high"] < 0 else REJECTED if d["low"] > 0 else OTHER
            ax.errorbar(d["mean"], y, xerr=[[d["mean"] - d["low"]], [d["high"] - d["mean"]]], fmt="o", color=color,
                        capsize=3)
        ax.axvline(0, color="#333", linewidth=0.8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_title(target, fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(alpha=0.3, axis="x")
    fig.supxlabel("bits per byte with the step − without it (95% interval); below 0: the step helps", fontsize=9)
    fig.tight_layout()
    return to_png(fig)
