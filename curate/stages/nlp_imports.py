"""spaCy and presidio without the deep-learning stack they would pull in, and spaCy's tokenizers compiled for less.

presidio-analyzer imports its transformers NLP engine whenever `transformers` is installed, and spaCy's thinc imports
`torch` whenever it is installed (both are here: `curate train` uses torch). curate's stages use neither: spaCy's
blank tokenizers, presidio's pattern recognizers, and NER with spaCy's CNN pipelines (en_core_web_sm). Importing the
two cost 10-28 s of a 41-page run's start-up on this 2-core machine (`python -X importtime -c "import
curate.stages.pii"`: torch 6.5 s, transformers 12 s of 28 s, under load), in every process that imports a stage.

Inside `without_deep_learning()` those packages cannot be imported (each `import` raises ImportError, which spaCy,
thinc and presidio handle as "not installed"); after it they can again. What a process gives up: thinc's PyTorch
layers, so a spaCy transformer pipeline (en_core_web_trf) as a `pii` NER model is not supported.

`shared_charsets()`: loading a spaCy language is mostly Python's `re` compiling its tokenizer's patterns, and most of
that is `re._compiler._optimize_charset` turning spaCy's Unicode letter classes (`[{ALPHA}]`, thousands of ranges)
into bitmaps, again for every occurrence: French's TOKEN_MATCH repeats the class in each of its hundreds of
alternatives (836 charsets, 2.4 of its 2.5 s). Inside `shared_charsets()` a charset already optimized is looked up
instead of being optimized again; the compiled patterns are the same (the function is pure: a list of (op, value)
pairs and two module constants in, a new list out, read only by the compiler). Measured on the 17 languages of the
trafilatura-eval pages, one worker loading them all: 5.8 -> 4.0 CPU s (French 2.4 -> 0.7 s).
"""

import sys
from contextlib import contextmanager

DEEP_LEARNING = ("torch", "transformers", "tensorflow")


@contextmanager
def without_deep_learning():
    blocked = [name for name in DEEP_LEARNING if name not in sys.modules]  # already imported: used as is
    for name in blocked:
        sys.modules[name] = None  # Python's own marker: `import name` raises ImportError
    try:
        yield
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


@contextmanager
def shared_charsets():
    """Python's regex compiler remembers the character sets it has optimized while inside (module docstring)."""
    try:
        import re._compiler as compiler
    except ImportError:  # Python 3.10
        import sre_compile as compiler

    optimize = getattr(compiler, "_optimize_charset", None)
    if optimize is None or getattr(optimize, "shares_charsets", False):  # another Python, or already inside
        yield
        return
    # the one case-folding table Python passes (3.11+: _EXTRA_CASES, 3.10: _ignorecase_fixes); any other: not memoized
    known_fixes = getattr(compiler, "_EXTRA_CASES", getattr(compiler, "_ignorecase_fixes", None))
    memo: dict = {}

    def shared(charset, iscased=None, fixup=None, fixes=None):
        if fixes is not None and fixes is not known_fixes:
            return optimize(charset, iscased, fixup, fixes)
        try:
            key = (tuple((op, tuple(value) if isinstance(value, list) else value) for op, value in charset),
                   iscased, fixup, fixes is not None)
            found = memo.get(key)
        except TypeError:  # an unhashable value: not a charset this memo knows
            return optimize(charset, iscased, fixup, fixes)
        if found is None:
            found = memo[key] = optimize(charset, iscased, fixup, fixes)
        return list(found[0]), found[1]

    shared.shares_charsets = True
    compiler._optimize_charset = shared
    try:
        yield
    finally:
        if compiler._optimize_charset is shared:  # (a patch someone else made meanwhile stays)
            compiler._optimize_charset = optimize
