"""The `curate ablate` section of the report: the table, the verdict, and the evaluation curves."""

from curate.report import plots
from curate.report.html import esc, image, table


def ablation_table(ablation: dict) -> tuple[list[str], list[list]]:
    """One row per variant: training data, then bits per byte on each evaluation set (mean ± half the spread over
    seeds) and the change from the raw baseline (negative: better than raw)."""
    names = [s["name"] for s in ablation["eval_sets"]]
    headers = ["variant", "stages", "train docs", "train MB"]
    for name in names:
        headers += [f"{name}: bits/byte", "vs raw"]
    raw = next((v["summary"] for v in ablation["variants"] if v["name"] == "raw"), None)
    rows = []
    for variant in ablation["variants"]:
        row = [variant["name"], ", ".join(variant["stages"]) or "(none)", variant["train_docs"],
               f"{variant['train_bytes'] / 1e6:.3f}"]
        for name in names:
            s = variant["summary"][name]
            row.append(f"{s['mean']:.4f} ± {s['spread'] / 2:.4f}")
            row.append(f"{s['mean'] - raw[name]['mean']:+.4f}" if raw and variant["name"] != "raw" else "")
        rows.append(row)
    return headers, rows


def ablation_markdown(ablation: dict) -> str:
    """The table as Markdown, for a terminal and for pasting into a note."""
    headers, rows = ablation_table(ablation)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(f"{c:,}" if isinstance(c, int) else str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def ablation_section(ablation: dict) -> str:
    headers, rows = ablation_table(ablation)
    runs = [(v["name"], r) for v in ablation["variants"] for r in v["runs"]]
    curve = plots.curves([{"label": f"{name} seed {r['seed']}", "color_key": name, "points": r["curve"]}
                          for name, r in runs], "bits per byte on the curated test split during training")
    per_run = [[name, r["seed"], r["steps"], r["tokens_seen"], r["seconds"], r["vocab_size"],
                *(f"{r['eval'][s['name']]['bits_per_byte']:.4f}" for s in ablation["eval_sets"]),
                *(f"{r['eval'][s['name']]['unknown_token_share']:.2%}" for s in ablation["eval_sets"])]
               for name, r in runs]
    sets = [s["name"] for s in ablation["eval_sets"]]
    run_headers = ["variant", "seed", "steps", "tokens", "seconds", "vocab", *sets,
                   *(f"unknown tokens: {s}" for s in sets)]
    eval_rows = [[s["name"], s["docs"], s["bytes"]] for s in ablation["eval_sets"]]
    verdict = "".join(f"<li>{esc(line)}</li>" for line in ablation.get("verdict", []))
    return (f'<h2 id="ablation">Ablation: what the curation is worth to a model</h2>'
            f"<p>Same model, same seeds {esc(ablation['seeds'])}, same budget of "
            f"<b>{ablation['budget_tokens']:,}</b> training tokens per run (pipeline {esc(ablation['pipeline'])}, "
            f"trainer config {esc(ablation.get('train_config') or 'defaults')} {esc(' '.join(ablation['overrides']))})."
            f" Lower bits per byte is better; ± is half the spread between seeds.</p><ul>{verdict}</ul>"
            f"{table(headers, rows, {2}, attrs='id=ablation-table')}"
            f"<h3>evaluation sets (the same text for every variant)</h3>"
            f"{table(['set', 'docs', 'bytes'], eval_rows, {1, 2})}{image(curve, 'ablation curves')}"
            f"<h3>every run</h3>"
            f"{table(run_headers, per_run, {2, 3, 4, 5})}")
