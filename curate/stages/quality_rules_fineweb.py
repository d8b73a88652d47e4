"""FineWeb's own rules (Penedo et al. 2024, "The FineWeb Datasets", §3.6), measured as datatrove's
FineWebQualityFilter (datatrove/pipeline/filters/fineweb_quality_filter.py) measures them.

Terminal punctuation is datatrove's TERMINAL_PUNCTUATION, every script's sentence ends, so it needs no language. A
line counts as ending with punctuation where C4's line rule keeps a sentence of it (quality_rules_c4.sentence_part):
when its final mark is followed by closing quotes or brackets (`."`, `?)`, `。」`), and when it holds complete
sentences before an unterminated tail (a paragraph whose last sentence lost its mark, a hard-wrapped line of a book);
datatrove counts only lines ending in the mark itself (`datatrove_compatible`).
"""

import pyarrow as pa
from datatrove.utils.text import TERMINAL_PUNCTUATION

from curate.stages.quality_rules_c4 import OTHER_TERMINALS, sentence_part
from curate.stages.quality_rules_gopher import find_duplicates

STOP_CHARS = tuple(TERMINAL_PUNCTUATION)

RULES = [
    ("fineweb_line_punct_ratio", "min", "fineweb_min_line_punct_ratio"),
    ("fineweb_short_line_ratio", "max", "fineweb_max_short_line_ratio"),
    ("fineweb_char_dup_ratio", "max", "fineweb_max_char_dup_ratio"),
    ("fineweb_newline_word_ratio", "max", "fineweb_max_newline_word_ratio"),
]
COLUMNS: dict[str, pa.DataType] = {column: pa.float64() for column, _, _ in RULES}


def measure(text: str, n_words: int | None, short_line_length: int, datatrove_compatible: bool = False) -> dict:
    """FineWeb values of `text`; `n_words`: its number of words (None: no tokenizer, that rule is not measured)."""
    lines = [line for line in text.split("\n") if line.strip() != ""]
    if not lines:  # datatrove rejects it as "empty": here no line ends in punctuation, which rejects it too
        return {"fineweb_line_punct_ratio": 0.0, "fineweb_short_line_ratio": None, "fineweb_char_dup_ratio": None,
                "fineweb_newline_word_ratio": None}
    chars = len(text.replace("\n", ""))
    return {
        "fineweb_line_punct_ratio": sum(line.endswith(STOP_CHARS) if datatrove_compatible else
                                        sentence_part(line.strip(), OTHER_TERMINALS) is not None
                                        for line in lines) / len(lines),
        "fineweb_short_line_ratio": sum(len(line) <= short_line_length for line in lines) / len(lines),
        "fineweb_char_dup_ratio": find_duplicates(lines)[1] / chars if chars else 0.0,
        # datatrove's "list_ratio"; a page with no words has no ratio (datatrove divides by zero)
        "fineweb_newline_word_ratio": text.count("\n") / n_words if n_words else None,
    }
