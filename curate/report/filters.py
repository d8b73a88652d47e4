"""The `curate eval filters` section of the report: what the per-document stages reject among known-good and
known-bad documents, per group (half), stage, rule and language. Read from OUT/filters_eval.json (or --filters)."""

from curate.report.html import esc, table

FILTERS_FILE = "filters_eval.json"


def _cell(entry: dict) -> str:
    if not entry["n"]:
        return ""
    low, high = entry["ci95"]
    return f"{100 * entry['rate']:.1f}% [{100 * low:.1f}, {100 * high:.1f}] ({entry['k']}/{entry['n']})"


def filters_section(result: dict) -> str:
    groups = result["groups"]
    overall = [[name, _cell(g["good"]), _cell(g["bad"])] for name, g in groups.items()]
    stages = [[stage, *(_cell(g["stages"][stage][key]) for g in groups.values()
                        for key in ("good_first", "bad_first"))] for stage in result["stages"]]
    stage_headers = ["stage", *(f"{name}: {label} rejected first" for name in groups for label in ("good", "bad"))]
    rules = [[rule, r["good_alone"]["k"], r["good_only"]["k"], r["bad_alone"]["k"], r["bad_only"]["k"],
              ", ".join(r.get("good_examples", [])[:3])] for rule, r in groups["all"]["rules"].items()]
    languages = [[lang, _cell(g["good"]), _cell(g["bad"]), next(iter(g["good_rejected_first_by"]), "")]
                 for lang, g in groups["all"]["per_language"].items() if g["good"]["n"] >= 20]
    sources = [[source, _cell(g[source.split("/")[0]])] for source, g in groups["all"]["per_source"].items()]
    docs = result["documents"]
    return (f'<h2 id="filters">Filters on labelled documents</h2>'
            f"<p>{docs['good']:,} known-good and {docs['bad']:,} known-bad documents ({esc(result['data'])}) through "
            f"the per-document stages of {esc(result['pipeline'])}: {esc(', '.join(result['stages']))}. Good "
            f"documents rejected are false rejections; rates with 95% Wilson intervals.</p>"
            f"{table(['group', 'good rejected', 'bad rejected'], overall, attrs='id=filters-table')}"
            f"<h3>per stage</h3>{table(stage_headers, stages)}"
            f"<h3>per rule (all documents): alone = the rule would drop it; only = no other rule does</h3>"
            f"{table(['rule', 'good alone', 'good only', 'bad alone', 'bad only', 'good examples'], rules, {1, 2, 3, 4})}"
            f"<h3>per language (20 good documents or more)</h3>"
            f"{table(['language', 'good rejected', 'bad rejected', 'first rule on good'], languages)}"
            f"<h3>per source</h3>{table(['source', 'rejected'], sources)}")
