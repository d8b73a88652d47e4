"""MediaWiki markup (wikitext) to plain text, through mwparserfromhell's parser rather than regexes.

What is removed follows the cleaning of the Hugging Face / TFDS `wikipedia` builders (huggingface/datasets
`datasets/wikipedia/wikipedia.py` `_parse_and_clean_wikicode`, which also uses mwparserfromhell): file and image
links, `<ref>` footnotes and tables go, then `strip_code()` keeps the visible text of links, headings, lists and
formatting and drops templates. Beyond that builder:
  - category and interlanguage links go too (the builder keeps category names as text: a line of link targets, not
    prose);
  - the standard appendix sections go (Wikipedia:Manual of Style/Layout, "Standard appendices and footers":
    See also, Notes, References, Further reading, External links, and their common variants): lists of citations
    and links, not article text;
  - a few inline templates whose argument is the text itself are replaced by that text instead of vanishing
    (`{{lang|grc|ἄχος}}` -> "ἄχος", `{{nowrap|9 May}}`, `{{convert|3|km}}` -> "3 km"); every other template
    (infoboxes, citations, navigation boxes, pronunciation keys) is dropped, as strip_code does;
  - lines left empty or holding only punctuation (a list item whose only content was a template) go, and blank
    lines are collapsed to one; brackets and separators a removed template leaves behind ("Achilles (; Ἀχιλλεύς,
    Akhilleus, )") are tidied.
Bold and italic quote runs are read as text (`skip_style_tags=True`, mwparserfromhell's documented workaround for
style tags that cross other syntax: an unbalanced `''` otherwise makes the rest of the page one italic tag, its
headings included) and removed afterwards: in wikitext a run of 2, 3 or 5 apostrophes is always formatting.
"""

import re
from contextlib import suppress

# Wikipedia:Manual of Style/Layout, "Standard appendices and footers" (and common variants of those headings)
APPENDIX_SECTIONS = frozenset({
    "see also", "notes", "references", "further reading", "external links", "bibliography", "sources",
    "citations", "footnotes", "notes and references", "references and notes", "works cited", "general references",
    "explanatory notes", "primary sources", "secondary sources", "external sources", "related articles",
})
# link namespaces whose target is not text: media, categories (and their colon-less interwiki twins)
MEDIA_PREFIXES = ("file", "image", "media")
CATEGORY_PREFIXES = ("category",)
# templates whose last positional argument is the text shown: {{lang|code|text}}, {{lang-grc|text}}, {{nowrap|...}}
TEXT_TEMPLATES = re.compile(r"^(?:lang(?:-[a-z\-]+)?|nowrap|nobr|transl|transliteration|small|smaller|big|"
                            r"nowiki|ill|interlanguage link|'|sic|abbr|math|mvar|var|em|strong|visible anchor)$",
                            re.IGNORECASE)
_INTERLANGUAGE = re.compile(r"^:?[a-z]{2,3}(?:-[a-z]+)*:", re.IGNORECASE)  # [[de:Achilles]], [[zh-yue:...]]
_MAGIC_WORD = re.compile(r"__[A-Z]+__")
_PUNCTUATION_LINE = re.compile(r"^[\W_]*$")
_BLANK_LINES = re.compile(r"\n{3,}")
_STYLE_QUOTES = re.compile(r"'{5}|'{3}|'{2}")
# what a removed template leaves in brackets: "(; ", "(, ", " ,)" , "( )", "()"
_EMPTY_BRACKET = re.compile(r"\(\s*[;,]?\s*\)|(?<=\()\s*[;,]\s*|\s*[;,]\s*(?=\))")
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+(?=[,.;:!?)])")


def wikitext_to_text(wikitext: str) -> str:
    """The plain text of one article's wikitext: paragraphs separated by a blank line, headings on their own line."""
    import mwparserfromhell

    code = mwparserfromhell.parse(wikitext, skip_style_tags=True)
    sections = code.get_sections(flat=True, include_lead=True, include_headings=True)
    parts = []
    for section in sections:
        headings = section.filter_headings(recursive=False)
        if headings and headings[0].title.strip_code().strip().lower() in APPENDIX_SECTIONS:
            continue
        _remove_non_text(section)
        _unwrap_text_templates(section)
        parts.append(section.strip_code(normalize=True, collapse=True))
    return _tidy("\n\n".join(parts))


def _remove_non_text(code) -> None:
    doomed = [node for node in code.filter_wikilinks(recursive=True) if _not_text_link(str(node.title))]
    doomed += code.filter_tags(recursive=True, matches=lambda tag: str(tag.tag).lower() in ("ref", "table", "gallery"))
    doomed += code.filter_comments(recursive=True)
    for node in doomed:
        with suppress(ValueError):  # inside a node removed before it
            code.remove(node)


def _not_text_link(title: str) -> bool:
    title = title.strip().lstrip(":").lower()
    prefix = title.split(":", 1)[0].strip() if ":" in title else ""
    return prefix in MEDIA_PREFIXES or prefix in CATEGORY_PREFIXES or bool(_INTERLANGUAGE.match(title)) and (
        len(prefix) <= 3 or "-" in prefix)


def _unwrap_text_templates(code) -> None:
    for template in code.filter_templates(recursive=True):
        name = str(template.name).strip()
        if name.lower() == "convert" and template.params:
            value = " ".join(str(p.value).strip() for p in template.params[:2] if not p.showkey)
            replacement = value
        elif TEXT_TEMPLATES.match(name):
            positional = [p for p in template.params if not p.showkey]
            replacement = str(positional[-1].value) if positional else ""
        else:
            continue
        with suppress(ValueError):  # inside a template replaced before it
            code.replace(template, replacement)


def _tidy(text: str) -> str:
    text = _STYLE_QUOTES.sub("", _MAGIC_WORD.sub("", text))
    text = _SPACE_BEFORE_PUNCT.sub("", _EMPTY_BRACKET.sub("", text))
    lines = [line.strip() for line in text.split("\n")]
    lines = [line if not _PUNCTUATION_LINE.match(line) else "" for line in lines]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
