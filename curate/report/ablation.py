"""The `curate ablate` section of the report: the variants, each step's effect with its 95% interval, the curves."""

from curate.report import plots
from curate.report.html import esc, image, table


def _interval(diff: dict | None, sign: float = 1.0) -> str:
    if diff is None:
        return ""
    mean = sign * diff["mean"]
    if diff["low"] is None:
        return f"{mean:+.4f} (1 seed)"
    low, high = sorted((sign * diff["low"], sign * diff["high"]))
    return f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]"


def _against_raw(ablation: dict, name: str, budget: int, target: str) -> str:
    """variant − raw with its interval, from whichever comparison pairs the two (extraction is raw − visible_text)."""
    for c in ablation["comparisons"]:
        if c["budget_tokens"] == budget and {c["a"], c["b"]} == {name, "raw"}:
            return _interval(c["targets"].get(target), 1.0 if c["a"] == name else -1.0)
    return ""


def variants_table(ablation: dict) -> tuple[list[str], list[list]]:
    """One row per variant and budget: training data, then bits per byte on each target (mean over seeds) and the
    paired difference from raw with its 95% interval (negative: better than raw)."""
    headers = ["variant", "budget", "seeds", "train docs", "train MB"]
    for target in ablation["targets"]:
        headers += [f"{target}: bits/byte", "− raw [95% interval]"]
    rows = []
    for v in ablation["variants"]:
        for budget, summary in v["summary"].items():
            seeds = sum(1 for r in v["runs"] if str(r["budget_tokens"]) == budget)
            row = [v["name"], int(budget), seeds, v["train_docs"], f"{v['train_bytes'] / 1e6:.3f}"]
            for target in ablation["targets"]:
                row += [f"{summary[target]['mean']:.4f}",
                        "" if v["name"] == "raw" else _against_raw(ablation, v["name"], int(budget), target)]
            rows.append(row)
    return headers, rows


def effects_table(ablation: dict) -> tuple[list[str], list[list]]:
    """One row per step: its effect (with it − without it, bits per byte; negative: the step helps) on every target
    with the 95% interval, and what the step removed in the full run (its funnel row)."""
    removed = {r["step"]: r for r in ablation.get("removed_by_stage", [])}
    judging = [r for r in removed.values() if not r.get("extraction")]
    removed["(curation)"] = {key: sum(r[key] for r in judging)
                             for key in ("docs_removed", "bytes_removed", "tokens_removed")} if judging else {}
    headers = ["effect of", "budget", "seeds", "docs removed", "MB removed", "words removed"]
    headers += [f"{t} [95% interval]" for t in ablation["targets"]]
    rows = []
    for c in ablation["comparisons"]:
        stage = c["effect"].removeprefix("stage ") if c["effect"].startswith("stage ") else None
        r = removed.get(stage or ("(curation)" if c["a"] == "full" and c["b"] == "raw" else ""), {})
        seeds = len(next(iter(c["targets"].values()))["seeds"]) if c["targets"] else 0
        rows.append([c["effect"], c["budget_tokens"], seeds, r.get("docs_removed"),
                     f"{r['bytes_removed'] / 1e6:.3f}" if r else "", r.get("tokens_removed"),
                     *(_interval(c["targets"][t]) for t in ablation["targets"])])
    return headers, rows


def markdown(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(f"{c:,}" if isinstance(c, int) else "" if c is None else str(c) for c in row) + " |"
              for row in rows]
    return "\n".join(lines)


def ablation_markdown(ablation: dict) -> str:
    """Both tables as Markdown, for a terminal and for pasting into a note."""
    return markdown(*variants_table(ablation)) + "\n\n" + markdown(*effects_table(ablation))


def curves_png(ablation: dict) -> bytes:
    series, named = [], set()
    for v in ablation["variants"]:
        for r in v["runs"]:
            label = f"{v['name']} ({r['budget_tokens']:,} tokens)"
            series.append({"label": label if label not in named else "_" + label, "color_key": v["name"],
                           "points": r["curve"]})
            named.add(label)
    return plots.curves(series, "bits per byte on the curated test split during training (every seed)")


def effects_png(ablation: dict) -> bytes:
    return plots.intervals([{"label": f"{c['effect'].split(' (')[0]} ({c['budget_tokens'] / 1e6:g}M tokens)",
                             "targets": {t: c["targets"][t] for t in ablation["targets"]}}
                            for c in ablation["comparisons"]], ablation["targets"])


def ablation_section(ablation: dict) -> str:
    headers, rows = variants_table(ablation)
    effect_headers, effect_rows = effects_table(ablation)
    runs = [(v["name"], r) for v in ablation["variants"] for r in v["runs"]]
    sets = [s["name"] for s in ablation["eval_sets"]]
    per_run = [[name, r["budget_tokens"], r["seed"], r["steps"], r["tokens_seen"], r["seconds"], r["vocab_size"],
                *(f"{r['eval'][s]['bits_per_byte']:.4f}" for s in sets)] for name, r in runs]
    run_headers = ["variant", "budget", "seed", "steps", "tokens", "seconds", "vocab", *sets]
    eval_rows = [[s["name"], s["docs"], s["bytes"], s.get("lang") or "",
                  "yes" if s.get("chosen_by_curation") else "no"] for s in ablation["eval_sets"]]
    verdict = "".join(f"<li>{esc(line)}</li>" for line in ablation.get("verdict", []))
    loo = ablation.get("leave_one_out")
    loo_note = (f" Leave-one-out: {len(loo['seeds'])} seeds, {loo['budget_tokens']:,} tokens a run." if loo else "")
    return (f'<h2 id="ablation">Ablation: what the curation is worth to a model</h2>'
            f"<p>Same model and tokenizer, seeds {esc(ablation['seeds'])}, <b>{ablation['budget_tokens']:,}</b> "
            f"training tokens a run (pipeline {esc(ablation['pipeline'])}, trainer config "
            f"{esc(ablation.get('train_config') or 'defaults')} {esc(' '.join(ablation['overrides']))}).{loo_note} "
            f"Lower bits per byte is better. Differences are paired by seed (the seed draws the training sample, the "
            f"initial weights and the batches); the 95% interval takes in the seeds and a resampling of the "
            f"evaluation documents. A step helps where its whole interval is below 0.</p><ul>{verdict}</ul>"
            f"<h3>variants</h3>{table(headers, rows, {1, 2, 3}, attrs='id=ablation-table')}"
            f"<h3>what each step is worth (with it − without it, bits per byte)</h3>"
            f"{table(effect_headers, effect_rows, {1, 2, 3, 5}, attrs='id=ablation-effects')}"
            f"{image(effects_png(ablation), 'effects with 95% intervals')}"
            f"<h3>evaluation sets (the same text for every variant)</h3>"
            f"{table(['set', 'docs', 'bytes', 'language', 'chosen by the curation'], eval_rows, {1, 2})}"
            f"{image(curves_png(ablation), 'ablation curves')}"
            f"<h3>every run</h3>{table(run_headers, per_run, {1, 2, 3, 4, 5, 6})}")
