"""curate's stages, registered by the names the pipeline YAML uses.

Each stage lives in its own file here and is a datatrove PipelineStep (filters subclass datatrove's BaseFilter via
`curate.stages.base.CurateFilter`). A YAML stage item may also name any datatrove PipelineStep by dotted path
(`datatrove.pipeline.filters.GopherRepetitionFilter`); it then runs wrapped in `DatatroveStep`, so nothing it
drops is lost.
"""

import importlib

# name in the YAML -> "module:ClassName". One stage, one file.
STAGES: dict[str, str] = {
    "extract": "curate.stages.extract:Extract",
    "clean": "curate.stages.clean:Clean",
    "langid": "curate.stages.langid:LanguageId",
    "quality": "curate.stages.quality:QualityRules",
    "harmful": "curate.stages.harmful:HarmfulContent",
    "quality_model": "curate.stages.quality_model:QualityModel",
    "chunk": "curate.stages.chunk:Chunk",
    "exact_dedup": "curate.stages.exact_dedup:ExactDedup",
    "minhash_dedup": "curate.stages.minhash_dedup:MinhashDedup",
    "line_dedup": "curate.stages.line_dedup:LineDedup",
    "split": "curate.stages.split:Split",
    "decontaminate": "curate.stages.decontaminate:Decontaminate",
    "pii": "curate.stages.pii:PiiRedaction",
    "url_filter": "curate.stages.url_filter:UrlFilter",
    "domain_cap": "curate.stages.domain_cap:DomainCap",
}


def stage_names() -> list[str]:
    return sorted(STAGES)


def resolve_step_class(name: str) -> type:
    """The class for a registered stage name or a dotted path to a datatrove PipelineStep.

    Raises LookupError with the allowed values when it is neither.
    """
    from datatrove.pipeline.base import PipelineStep

    if name in STAGES:
        module, _, attr = STAGES[name].partition(":")
        return getattr(importlib.import_module(module), attr)
    if "." in name:
        module_name, _, attr = name.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as error:
            raise LookupError(f"cannot import {name!r}: {error}") from None
        if not (isinstance(cls, type) and issubclass(cls, PipelineStep)):
            raise LookupError(f"{name!r} is not a datatrove PipelineStep")
        return cls
    allowed = ", ".join(stage_names()) or "none registered yet"
    raise LookupError(f"unknown stage {name!r}; registered stages: {allowed}; or a dotted path to a datatrove PipelineStep")
