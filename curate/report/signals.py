"""Which stage owns each signal column, and the threshold that stage actually applied to it.

A threshold is read from the run's resolved config (`manifest["config"]["stages"]`: the parameters written in the
YAML) and, for a parameter the YAML left out, from the stage class's `__init__` default (inspect.signature), so
the line drawn on a histogram is the one the run used. A stage that did not run draws no line; a rule set to
`null` (disabled) draws none either.

The quality rules come from the stage's own rule tables (`quality_rules_*.RULES`: column, min/max, parameter), so
a rule added there is drawn here without a change.
"""

import inspect
from dataclasses import dataclass

from curate.stages import quality_rules_c4, quality_rules_fineweb, quality_rules_gopher, resolve_step_class


@dataclass(frozen=True)
class Rule:
    """Column `column` is compared with stage parameter `param`: kept when >= it ("min") or <= it ("max")."""

    stage: str
    param: str
    kind: str
    when: tuple[str, object] | None = None  # (parameter, value): the rule applies only with this setting


@dataclass(frozen=True)
class Threshold:
    label: str  # "langid.min_score"
    value: float
    kind: str  # "min" | "max"


RULES: dict[str, list[Rule]] = {}
for _module in (quality_rules_gopher, quality_rules_c4, quality_rules_fineweb):
    for _column, _kind, _param in _module.RULES:
        RULES.setdefault(_column, []).append(Rule("quality", _param, _kind))
RULES.update({
    "lang_score": [Rule("langid", "min_score", "min")],
    "badword_ratio": [Rule("harmful", "max_badword_ratio", "max", when=("mode", "ratio"))],
    "quality_score": [Rule("quality_model", "threshold", "min")],
    "html_chars": [Rule("extract", "max_html_chars", "max")],
})

# Signal groups, in pipeline order: (title, owning stage, column prefixes or names). Numeric columns matching no
# group go under "other columns".
GROUPS: list[tuple[str, str | None, tuple[str, ...]]] = [
    ("reader", None, ("decode_errors",)),  # the reader step is named by its format (warc, jsonl, ...)
    ("extract", "extract", ("html_chars",)),
    ("clean", "clean", ("clean_chars_removed",)),
    ("langid: language score", "langid", ("lang_score",)),
    ("quality: Gopher rules", "quality", ("gopher_",)),
    ("quality: C4 rules", "quality", ("c4_",)),
    ("quality: FineWeb rules", "quality", ("fineweb_",)),
    ("harmful: bad words", "harmful", ("badword_",)),
    ("quality_model: classifier score", "quality_model", ("quality_score",)),
    ("dedup: duplicate cluster sizes", "minhash_dedup", ("dup_cluster_size",)),
    ("pii: entities found", "pii", ("pii_",)),
]
# numeric columns that are not signals: identifiers, and the rejection's own value (one column for every reason)
NOT_SIGNALS = {"reason_value", "dup_cluster_id"}


def group_of(column: str) -> tuple[str, str | None]:
    """The column's group title and owning stage."""
    for title, stage, prefixes in GROUPS:
        if column.startswith(prefixes):
            return title, stage
    return "other columns", None


def stage_params(config: dict) -> dict[str, list[dict]]:
    """Each stage name's parameter sets, in pipeline order (a stage may appear twice)."""
    params: dict[str, list[dict]] = {}
    for stage in (config or {}).get("stages") or []:
        if isinstance(stage, dict) and "name" in stage:
            params.setdefault(stage["name"], []).append(stage.get("params") or {})
    return params


def default_param(stage: str, param: str):
    """The stage class's `__init__` default for `param` (None when it has none or the stage cannot be found)."""
    try:
        parameter = inspect.signature(resolve_step_class(stage).__init__).parameters.get(param)
    except (LookupError, ImportError, TypeError, ValueError):
        return None
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return None
    return parameter.default


def thresholds(column: str, config: dict) -> list[Threshold]:
    """The thresholds the run applied to `column` (one per occurrence of the owning stage)."""
    params_by_stage = stage_params(config)
    found = []
    for rule in RULES.get(column, []):
        for params in params_by_stage.get(rule.stage, []):
            if rule.when is not None:
                key, wanted = rule.when
                if params.get(key, default_param(rule.stage, key)) != wanted:
                    continue
            value = params[rule.param] if rule.param in params else default_param(rule.stage, rule.param)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                found.append(Threshold(f"{rule.stage}.{rule.param}", float(value), rule.kind))
    return found
