"""The variants `curate ablate` trains on: the pipeline with stages taken away, each an ordinary resumable run.

    visible_text   all the visible text of each page (extract in mode `visible`, Common Crawl's WET), structural
                   stages only: what main-text extraction is worth (FineWeb's first ablation, trafilatura vs WET)
    raw            extraction and the structural stages only: the baseline every other variant is compared with
    full           every stage
    without_<s>    every stage but s, for each stage that judges or rewrites text (--leave-one-out); a stage whose
                   annotation later stages read (its class's ANNOTATE_ONLY: langid's language) stays, with the
                   parameters under which it annotates and rejects nothing: its decision is what is left out
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from curate.config import ConfigError
from curate.pipeline import Pipeline

EXTRACTION_STAGES = ("extract",)  # a raw baseline still needs text out of the HTML
# stages that shape the data rather than judge it: every variant keeps them, so all variants cut documents the same
# way (chunk: the evaluation documents' ids are block ids) and split them the same way
STRUCTURAL_STAGES = ("chunk", "split")
VISIBLE_MODE = "visible"  # curate.stages.extract's mode that keeps every visible text of a page


@dataclass
class Variant:
    name: str
    stages: list  # StageConfig items of the pipeline
    description: str


def left_out(stages: list, i: int) -> tuple[list, str]:
    """The stages without stage i, and how: removed, or kept with its class's ANNOTATE_ONLY parameters when later
    stages read what it writes (so they do not fall back to their defaults)."""
    from curate.stages import resolve_step_class

    stage = stages[i]
    try:
        annotate_only = getattr(resolve_step_class(stage.name), "ANNOTATE_ONLY", None)
    except LookupError:  # not a stage curate knows
        annotate_only = None
    if annotate_only is None:
        return stages[:i] + stages[i + 1:], f"every stage but {stage.name}"
    kept = stage.model_copy(update={"params": {**stage.params, **annotate_only}})
    return stages[:i] + [kept] + stages[i + 1:], (f"every stage but {stage.name}'s decision (it annotates, with "
                                                  f"{annotate_only}, for the stages after it)")


def is_extraction(stage_name: str) -> bool:
    return stage_name in EXTRACTION_STAGES or ".extractors." in stage_name


def visible_text_stages(kept: list) -> list | None:
    """`kept` with curate's extract switched to mode `visible`; None when the extraction is not curate's (a datatrove
    extractor has no such mode) or there is none (text input)."""
    extract = [s for s in kept if s.name == "extract"]
    if not extract:
        return None
    return [s.model_copy(update={"params": {**s.params, "mode": VISIBLE_MODE}}) if s.name == "extract" else s
            for s in kept]


def variants(pipeline: Pipeline, leave_one_out: bool = False, visible_text: bool = True,
             leave_out: list[str] = ()) -> list[Variant]:
    """visible_text (when the pipeline has curate's extract and `visible_text`), raw, full, then with
    `leave_one_out` one `without_<stage>` per stage that is neither extraction nor structural; `leave_out` names the
    stages to leave out (the others are not), each one that can be left out."""
    stages = list(pipeline.config.stages)
    kept = [s for s in stages if is_extraction(s.name) or s.name in STRUCTURAL_STAGES]
    if len(kept) == len(stages):
        raise ConfigError(["stages: nothing to ablate: the pipeline has no stage besides extraction, chunk and split"],
                          pipeline.source)
    names = [s.name.rpartition(".")[2] for s in stages]  # a datatrove step by dotted path: its class name
    ablatable = [n for n, s in zip(names, stages) if s not in kept]
    unknown = [n for n in leave_out if n not in ablatable]
    if unknown:
        raise ConfigError([f"--leave-out {n}: not a stage of the pipeline that can be left out (those are "
                           f"{', '.join(ablatable)})" for n in unknown], pipeline.source)
    described = ", ".join(s.name for s in kept)
    result = []
    visible = visible_text_stages(kept) if visible_text else None
    if visible is not None:
        result.append(Variant("visible_text", visible, f"all visible text of each page (extract mode "
                                                        f"{VISIBLE_MODE}), only {described}"))
    result += [Variant("raw", kept, f"only {described}" if kept else "the input text as read"),
               Variant("full", stages, "every stage")]
    if leave_one_out or leave_out:
        for i, stage in enumerate(stages):
            if stage not in kept and (not leave_out or names[i] in leave_out):
                name = f"without_{names[i]}" + (f"_{i}" if names.count(names[i]) > 1 else "")
                result.append(Variant(name, *left_out(stages, i)))
    return result


def run_variant(pipeline: Pipeline, variant: Variant, output: Path, workers: int | None, force: bool) -> dict:
    """Run (or resume) the variant's pipeline into `output`; returns its manifest."""
    config = pipeline.config.model_copy(update={"stages": variant.stages})
    result = Pipeline(config, source=pipeline.source).run(output=str(output), workers=workers, force=force)
    if not result.ok:
        raise RuntimeError(f"variant {variant.name}: conservation check failed, see {output}/manifest.json")
    return result.manifest


def removed_by_stage(manifest: dict) -> list[dict]:
    """What each stage of a run took out, from its manifest's funnel: documents, bytes and the funnel's tokens
    (whitespace words; see curate.stages.base.count_tokens), rejected documents and text a rewrite removed alike."""
    rows = []
    for step in manifest.get("funnel", [])[1:]:  # the first row is the reader
        if step["step"] == "writer":
            continue
        rows.append({"step": step["step"], "extraction": is_extraction(step["step"]), "docs_removed": step["docs_in"] - step["docs_out"],
                     "bytes_removed": step["bytes_in"] - step["bytes_out"],
                     "tokens_removed": step.get("tokens_in", 0) - step.get("tokens_out", 0)})
    return rows
