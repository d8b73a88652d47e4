"""`clean`: repair and normalise the text every later stage sees, and record what changed.

Runs on every document, so each operation is one precompiled regex pass (or a cheap prefilter that skips it):
  newlines  \\r\\n, \\r, U+2028/2029, vertical tab and form feed become \\n (line-based rules below need this)
  unicode   ftfy repair of mojibake and C1 controls, then NFC (skipped when the text is pure ASCII: nothing to fix)
  markup    HTML tags, comments and entities left over by extraction (`<br>`, `&nbsp;`, `&#8217;`); MediaWiki's
            language-converter markup (`-{m}-`, which text scraped from the sr, zh, kk... Wikipedias keeps)
  controls  control and invisible format characters (\\n and \\t kept), ANSI terminal escapes
  gutenberg Project Gutenberg header (up to the `*** START OF ...` marker) and footer (from `*** END OF ...` or
            `End of (the) Project Gutenberg...`), licence text included
  notices   short lines that are cookie / JavaScript notices, from a short multilingual phrase list (off by default)
  emoji     emoji sequences, pictographs and private-use icon-font glyphs (off by default)
  unwrap    (off by default) newlines inside a paragraph of a hard-wrapped plain-text book become spaces
  whitespace  runs of spaces inside a line become one space, trailing spaces go, at most `max_blank_lines` blank
            lines in a row, no blank lines at either end
`clean_chars_removed` is the net number of characters removed (len before - len after); `clean_changes` lists the
operations that changed the text. A document with nothing left is rejected with `empty_after_clean`.
"""

import html
import re
import unicodedata

import pyarrow as pa
from datatrove.data import Document

from curate.stages.base import CurateStep, Rejection

# -- newlines ------------------------------------------------------------------------------------------------------
# (NEL, \x85, is left to ftfy: in real text it is a cp1252 "…" decoded as latin-1)
_NEWLINES = re.compile(r"\r\n?|[\u2028\u2029\x0b\x0c]")

# -- markup: only names of real HTML elements, so "a <b c" in prose or "x < y > z" in maths is left alone ---------
_HTML_ELEMENTS = (
    "a abbr address area article aside audio b base bdi bdo big blockquote body br button canvas caption center cite "
    "code col colgroup data dd del details dfn dialog div dl dt em embed fieldset figcaption figure font footer form "
    "h1 h2 h3 h4 h5 h6 head header hr html i iframe img input ins kbd label legend li link main mark meta meter nav "
    "noscript object ol optgroup option output p param picture pre progress q rp rt ruby s samp script section select "
    "small source span strike strong style sub summary sup svg table tbody td template textarea tfoot th thead time "
    "title tr track tt u ul var video wbr"
).split()
# attributes as HTML writes them (name=value, name="value", or a known boolean attribute alone), so that prose and
# maths like "a<b and b>c" stay
_BOOLEAN_ATTRIBUTES = ("allowfullscreen|async|autoplay|checked|controls|defer|disabled|hidden|itemscope|loop|multiple|"
                       "muted|nowrap|open|readonly|required|selected")
_ATTRIBUTE = r"""[a-zA-Z_:@][-\w:.@]*\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+)|(?:%s)\b""" % _BOOLEAN_ATTRIBUTES
_ATTRIBUTES = r"(?:\s+(?:%s))*\s*/?\s*" % _ATTRIBUTE  # "\s*/?\s*": real pages write "<br/ >"
_TAG = re.compile(r"<!--.*?-->|</?(?:%s)%s>" % ("|".join(_HTML_ELEMENTS), _ATTRIBUTES), re.IGNORECASE | re.DOTALL)
# Named entities with their ';' and numeric ones. html.unescape would also decode "&copy" without ';' inside URLs
# ("?a=1&copy=2"), so only complete entities are decoded, one at a time.
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_BLOCK_TAG = re.compile(r"</?(?:br|p|div|li|tr|h[1-6])\b", re.IGNORECASE)
# MediaWiki LanguageConverter markup (mediawiki.org Help:Language converter, "Syntax"): `-{text}-` shows text as
# written (no Cyrillic/Latin or Simplified/Traditional conversion), `-{flags|text}-` the same with flags,
# `-{zh-hans:text1;zh-hant:text2}-` one text per variant (the first is kept). Serbian news and Wikipedia text
# scraped from rendered-source pages keep it: 129 of lingua's 1,000 Serbian sentences ("висини од 185 метара
# (максималној 298 -{m}-"), and its "{" made C4's curly-bracket rule drop every Serbian paragraph.
_LANGUAGE_CONVERTER = re.compile(r"-\{(?:[A-Za-z;]{1,8}\|)?([^{}\n]*?)\}-")
_CONVERTER_VARIANT = re.compile(r"^\s*[a-z]{2,3}(?:-[a-z]{2,4})?\s*:\s*([^;]*)")

# -- control characters: C0 (but \t \n), DEL, C1, BOM / zero-width no-break space, soft hyphen (it splits words for
# every word-based rule downstream: "Scun\xadthorpe"), interlinear annotation marks, noncharacters. Zero-width
# (non-)joiners, ZWSP and bidi marks stay: emoji sequences, Persian/Indic shaping and Thai/Khmer word breaks need them.
_ANSI_ESCAPE = r"\x1b\[[0-9;?]*[ -/]*[@-~]"
_CONTROLS = re.compile(_ANSI_ESCAPE + r"|[\x00-\x08\x0e-\x1f\x7f-\x9f\u00ad\ufeff\ufff9-\ufffb\ufffe\uffff]")

# -- unwrap: a newline inside a paragraph of a hard-wrapped book becomes a space, so that line-based rules (FineWeb's
# line punctuation, C4's line rule) see sentences, not 70-column fragments. A line that starts indented or with a
# list marker or digit stays a line (verse, lists, chapter numbers).
_HARD_WRAP = re.compile(r"(?<=\S)\n(?=[^\s\-*•\d])")

# -- whitespace: exotic horizontal spaces (NBSP, en/em spaces, ideographic space, ...; not tab) become " ", runs of
# spaces inside a line one space, trailing spaces go
_SPACES = "\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
_EXOTIC_SPACE = re.compile("[%s]" % _SPACES)
_SPACE_RUN = re.compile("  +")

# -- Project Gutenberg markers, after the marker lists of c-w/gutenberg (gutenberg/_domain_model/text.py) cut down to
# the forms found in the books themselves: modern "*** START OF THE/THIS PROJECT GUTENBERG EBOOK X ***", and the
# 1990s "*END*THE SMALL PRINT! ..." line that closes the licence header of old editions.
_PG_START = re.compile(
    r"^[ \t]*\*{3}[ \t]*START OF (?:THE |THIS )?PROJECT GUTENBERG E-?(?:BOOK|TEXT)\b[^\n]*"
    r"|^[ \t]*\*END\*?[ \t]*THE SMALL PRINT![^\n]*",
    re.IGNORECASE | re.MULTILINE,
)
_PG_END = re.compile(
    r"^[ \t]*\*{3}[ \t]*END OF (?:THE |THIS )?PROJECT GUTENBERG E-?(?:BOOK|TEXT)\b"
    r"|^[ \t]*End of (?:the |this )?Project Gutenberg(?:['’]s)? ",
    re.IGNORECASE | re.MULTILINE,
)
# the transcriber credit that follows the start marker ("Produced by David Widger"), up to the next blank line
_PG_CREDIT = re.compile(
    r"\A\s*(?:Produced by|(?:This )?E-?text (?:was )?(?:prepared|produced) (?:by|from)|Transcribed (?:from|by))\b"
    r".*?(?:\n[ \t]*\n|\Z)",
    re.IGNORECASE | re.DOTALL,
)

# -- cookie / JavaScript notices. Every phrase contains "cookie" or "javascript", which makes a cheap prefilter. A line
# is dropped only when it is short (a notice, not an article about cookies).
NOTICE_PHRASES = (
    # en
    "uses cookies", "use cookies", "using cookies", "accept cookies", "accept all cookies", "cookie policy",
    "cookie settings", "cookies policy", "enable cookies", "enable javascript", "javascript is disabled",
    "javascript is required", "javascript must be enabled", "requires javascript", "turn on javascript",
    # de
    "verwendet cookies", "verwenden cookies", "nutzt cookies", "nutzen cookies", "setzt cookies",
    "cookie-einstellungen", "cookies akzeptieren", "cookie-richtlinie", "javascript aktivieren",
    "aktivieren sie javascript", "javascript ist deaktiviert",
    # fr
    "utilise des cookies", "utilisons des cookies", "accepter les cookies", "politique de cookies",
    "activer javascript", "activez javascript", "javascript est désactivé",
    # es / pt
    "utiliza cookies", "utilizamos cookies", "usamos cookies", "usa cookies", "aceptar cookies", "aceitar cookies",
    "política de cookies", "habilitar javascript", "activar javascript", "habilite o javascript", "ativar javascript",
    # it
    "utilizza cookie", "utilizziamo cookie", "usa i cookie", "accetta i cookie", "abilita javascript",
    "abilitare javascript",
    # nl
    "gebruikt cookies", "gebruik van cookies", "gebruiken cookies", "cookies accepteren", "javascript inschakelen",
    # pl
    "używa plików cookie", "korzysta z plików cookie", "plików cookies", "włącz javascript",
)
_NOTICE = re.compile("|".join(re.escape(p) for p in NOTICE_PHRASES))
MAX_NOTICE_LINE_CHARS = 400  # a consent banner is one or two sentences; longer lines are prose about cookies

# -- emoji and non-text symbols (regex module: Unicode properties). A pictograph is an Extended_Pictographic
# character, a private-use character (icon fonts leave these behind) or a Miscellaneous Symbols / Dingbats character,
# except below U+2500, where ©, ®, ™, arrows and technical symbols are ordinary text.
_EMOJI_PATTERN = (
    r"[\p{Regional_Indicator}]{1,2}"
    r"|[0-9#*]\ufe0f?\u20e3"
    r"|(?:[[\p{Extended_Pictographic}\p{Co}\u2600-\u27bf]--[\x00-\u24ff]][\ufe0e\ufe0f]?[\p{Emoji_Modifier}]?"
    r"[\U000e0020-\U000e007f]*\u200d?)+"
    r"|[\ufe0f\u20e3\p{Emoji_Modifier}]"
)
# every character the pattern above can match lies in these ranges (stdlib re scans a plain class fast)
_EMOJI_PREFILTER = re.compile("[\u20e3\u25a0-\u2bff\u3030\u303d\u3297\u3299\ue000-\uf8ff\ufe0e\ufe0f"
                              "\U0001f000-\U0001ffff\U000e0000-\U000e007f\U000f0000-\U0010ffff]")

# ftfy options, explicitly (ftfy 6.3 defaults in brackets). Repair what is broken, never restyle correct text:
FTFY_OPTIONS = dict(
    fix_encoding=True, restore_byte_a0=True, replace_lossy_sequences=True, decode_inconsistent_utf8=True,  # mojibake
    fix_c1_controls=True,  # C1 controls are cp1252 punctuation decoded as latin-1
    fix_surrogates=True,
    remove_terminal_escapes=True,
    unescape_html=False,  # [auto] done by the markup step, which only decodes complete entities and counts them
    remove_control_chars=False,  # [True] done by the controls step, which keeps ZWJ/ZWNJ and counts what it removes
    fix_line_breaks=False,  # [True] done by the newlines step
    fix_latin_ligatures=False,  # [True] restyles correct text; as datatrove's FTFYFormatter
    fix_character_width=False,  # [True] would force half-width punctuation on CJK text; as datatrove
    uncurl_quotes=False,  # [True] curly quotes are correct text; as datatrove
    normalization="NFC",  # [NFC] canonical composition only (NFKC would rewrite ², ﬁ, full-width forms)
    explain=False,  # [True] we do not read the explanation; skipping it is faster
)


class Clean(CurateStep):
    """Repair Unicode, strip leftover markup, control characters and known boilerplate, normalise whitespace."""

    name = "clean"

    def __init__(
        self,
        fix_unicode: bool = True,
        remove_markup: bool = True,
        remove_gutenberg: bool = True,  # markers are exact; a page that is not a PG book is untouched
        remove_notices: bool = False,  # phrase-based, so opt-in
        remove_emoji: bool = False,  # emoji are text to a chat model; opt-in
        max_blank_lines: int = 1,  # one blank line separates paragraphs; more is layout, not text
        unwrap_lines: bool = False,  # join hard-wrapped lines of plain-text books (Gutenberg wraps at ~70 columns)
    ):
        super().__init__()
        if max_blank_lines < 0:
            raise ValueError(f"max_blank_lines must be >= 0, got {max_blank_lines}")
        self.fix_unicode = fix_unicode
        self.remove_markup = remove_markup
        self.remove_gutenberg = remove_gutenberg
        self.remove_notices = remove_notices
        self.remove_emoji = remove_emoji
        self.max_blank_lines = max_blank_lines
        self.unwrap_lines = unwrap_lines
        self._blank_lines = re.compile(r"\n{%d,}" % (max_blank_lines + 2))
        self._ftfy_config = None
        self._emoji = None

    def columns(self) -> dict[str, pa.DataType]:
        return {"clean_chars_removed": pa.int64(), "clean_changes": pa.list_(pa.string())}

    def process(self, doc: Document) -> Document | Rejection:
        text, changes = self.clean_text(doc.text or "")
        removed = len(doc.text or "") - len(text)
        doc.metadata["clean_chars_removed"] = removed
        doc.metadata["clean_changes"] = changes
        for change in changes:
            self.stat_update(f"changed/{change}")
        if not text:
            return Rejection("empty_after_clean", value=removed)
        doc.text = text
        return doc

    def clean_text(self, text: str) -> tuple[str, list[str]]:
        """The cleaned text and the names of the operations that changed it."""
        changes = []

        def step(name, new):
            nonlocal text
            if new != text:
                changes.append(name)
                text = new

        step("newlines", _normalise_newlines(text))
        if self.fix_unicode and not text.isascii():
            step("unicode", self._fix_unicode(text))
        if self.remove_markup and ("<" in text or "&" in text or "-{" in text):
            step("markup", _strip_markup(text))
        step("controls", _CONTROLS.sub("", text))
        if self.remove_gutenberg and "utenberg" in text:
            step("gutenberg", strip_gutenberg(text))
        if self.remove_notices:
            step("notices", _strip_notices(text))
        if self.remove_emoji and not text.isascii() and _EMOJI_PREFILTER.search(text):
            step("emoji", self._strip_emoji(text))
        step("whitespace", self._normalise_whitespace(text))
        if self.unwrap_lines:
            step("unwrap", _HARD_WRAP.sub(" ", text))
        return text, changes

    def _fix_unicode(self, text: str) -> str:
        import ftfy

        if self._ftfy_config is None:
            self._ftfy_config = ftfy.TextFixerConfig(**FTFY_OPTIONS)
            self._ftfy_no_decode = self._ftfy_config._replace(fix_encoding=False)
        # ftfy.fix_text fixes line by line, and on every line its mojibake repair starts with `is_bad(line)`,
        # returning the line untouched when that regex finds nothing. One (fast) search over the whole text answers
        # that for all lines at once; when it finds nothing, the remaining fixes (C1 controls, surrogates, terminal
        # escapes, NFC) run on the whole text in one call instead of once per line.
        if looks_like_mojibake(text):
            return ftfy.fix_text(text, config=self._ftfy_config)
        return ftfy.fix_and_explain(text, config=self._ftfy_no_decode).text

    def _strip_emoji(self, text: str) -> str:
        if self._emoji is None:
            import regex

            self._emoji = regex.compile(_EMOJI_PATTERN, regex.V1)
        return self._emoji.sub("", text)

    def _normalise_whitespace(self, text: str) -> str:
        # str methods and prefilters rather than one regex per rule: 6x faster on the extracted pages
        if not text.isascii():
            text = _EXOTIC_SPACE.sub(" ", text)
        text = "\n".join([line.rstrip(" \t") for line in text.split("\n")])
        if "  " in text:
            text = _SPACE_RUN.sub(_one_space_unless_indent, text)
        text = self._blank_lines.sub("\n" * (self.max_blank_lines + 1), text)
        return text.strip("\n")


_mojibake_chars = None


def looks_like_mojibake(text: str) -> bool:
    """ftfy.badness.is_bad(text), about 10x faster on Latin-script text.

    is_bad is one search with a large alternation whose branches start with letters or spaces, so the regex engine
    tries it at almost every position (about 1.6 MB/s here). Every branch needs at least one of the ~400 characters
    in ftfy's MOJIBAKE_CATEGORIES (or a literal of the pattern), and no match is longer than 7 characters. So the
    same search, restricted to windows of 8 characters around those characters, finds a match exactly when the
    full search does (re's pos/endpos keep `^` meaning the start of the text).
    """
    global _mojibake_chars
    from ftfy.badness import BADNESS_RE, MOJIBAKE_CATEGORIES

    if _mojibake_chars is None:
        literals = "".join(sorted({c for c in BADNESS_RE.pattern if ord(c) > 127}))
        _mojibake_chars = re.compile("[%s%s]+" % ("".join(MOJIBAKE_CATEGORIES.values()), literals))
    search = BADNESS_RE.search
    window_start = window_end = -1
    for run in _mojibake_chars.finditer(text):
        start, end = run.start() - 8, run.end() + 8
        if start > window_end:
            if window_end > 0 and search(text, max(window_start, 0), window_end):
                return True
            window_start = start
        window_end = end
    return window_end > 0 and bool(search(text, max(window_start, 0), window_end))


def _one_space_unless_indent(match: re.Match) -> str:
    """A run of spaces inside a line becomes one space; leading indentation (code, verse) is kept."""
    start = match.start()
    return match.group() if start == 0 or match.string[start - 1] == "\n" else " "


def _normalise_newlines(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x0b" in text or "\x0c" in text or (not text.isascii() and ("\u2028" in text or "\u2029" in text)):
        text = _NEWLINES.sub("\n", text)
    return text


def _strip_markup(text: str) -> str:
    # a tag that broke a line in the page (<br>, </p>, ...) becomes a newline, any other tag nothing
    if "<" in text:
        text = _TAG.sub(lambda m: "\n" if _BLOCK_TAG.match(m.group()) else "", text)
    if "-{" in text:
        text = _LANGUAGE_CONVERTER.sub(_converted_text, text)
    return _ENTITY.sub(_decode_entity, text) if "&" in text else text


def _converted_text(match: re.Match) -> str:
    variant = _CONVERTER_VARIANT.match(match.group(1))
    return variant.group(1).strip() if variant else match.group(1)


def _decode_entity(match: re.Match) -> str:
    decoded = html.unescape(match.group())
    if decoded == match.group():
        return decoded  # not an entity after all ("&foo;")
    # a decoded control character would undo the controls step; unassigned code points are kept as written
    if len(decoded) == 1 and unicodedata.category(decoded) in ("Cc", "Cn") and decoded not in "\t\n":
        return ""
    return decoded


def strip_gutenberg(text: str) -> str:
    """The book without the Project Gutenberg header and footer; `text` unchanged when it has no markers."""
    first_start = _PG_START.search(text)
    end = _PG_END.search(text, first_start.end() if first_start else 0)
    stop = end.start() if end else len(text)
    # without an end marker, a header marker only counts in the first half: old editions repeat the small print
    # at the end, and cutting there would throw the book away
    limit = stop if end else len(text) // 2
    start = 0
    for match in _PG_START.finditer(text, 0, limit):
        start = match.end()
    if not start and not end:
        return text
    body = text[start:stop]
    if start:
        body = _PG_CREDIT.sub("", body, count=1)
    return body


def _strip_notices(text: str) -> str:
    lowered = text.lower()
    if "cookie" not in lowered and "javascript" not in lowered:
        return text
    lines = text.split("\n")
    lowered_lines = lowered.split("\n")
    if len(lines) != len(lowered_lines):  # lower() changed the line structure (it never should): leave the text
        return text
    kept = [line for line, low in zip(lines, lowered_lines)
            if len(line) > MAX_NOTICE_LINE_CHARS or not _NOTICE.search(low)]
    return "\n".join(kept) if len(kept) != len(lines) else text
