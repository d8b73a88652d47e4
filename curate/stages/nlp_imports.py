"""spaCy and presidio without the deep-learning stack they would pull in.

presidio-analyzer imports its transformers NLP engine whenever `transformers` is installed, and spaCy's thinc imports
`torch` whenever it is installed (both are here: `curate train` uses torch). curate's stages use neither: spaCy's
blank tokenizers, presidio's pattern recognizers, and NER with spaCy's CNN pipelines (en_core_web_sm). Importing the
two cost 10-28 s of a 41-page run's start-up on this 2-core machine (`python -X importtime -c "import
curate.stages.pii"`: torch 6.5 s, transformers 12 s of 28 s, under load), in every process that imports a stage.

Inside `without_deep_learning()` those packages cannot be imported (each `import` raises ImportError, which spaCy,
thinc and presidio handle as "not installed"); after it they can again. What a process gives up: thinc's PyTorch
layers, so a spaCy transformer pipeline (en_core_web_trf) as a `pii` NER model is not supported.
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
