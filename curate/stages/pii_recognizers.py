"""The recognizers behind the `pii` stage: presidio's, made offline and taught the benign look-alikes, plus ours.

Every recognizer here is a presidio recognizer and runs inside a presidio `AnalyzerEngine` built on a blank spaCy
pipeline (no model to download). A blank pipeline tokenizes but has no lemmas, so presidio's lemma-based context
enhancer never fires; the recognizers that need context words (weak phone shapes, spaced SSNs) look at the raw
words around a match instead (`TextContext`), with presidio's own boost figures.

Rules for public/benign look-alikes (each tested in tests/stages/test_pii.py):
  - IP addresses: private (RFC 1918, fc00::/7), loopback, link-local, unspecified, multicast, reserved and
    documentation ranges (RFC 5737, RFC 3849) address no one outside a network, so they are kept, as are the public
    DNS resolvers BigCode's PII pipeline keeps (bigcode-project/bigcode-dataset pii/utils/emails_ip_addresses_detection.py
    `POPULAR_DNS_SERVERS`); `keep_private_ips: false` redacts the private ranges too.
  - e-mail addresses at reserved example domains (example.com/.net/.org, *.example, *.test, *.invalid, *.localhost:
    RFC 2606, RFC 6761) are kept.
  - phone-shaped numbers that are dates, IPv4 addresses, US SSNs (3-2-4 with hyphens), version numbers (dotted,
    first group of 1-2 digits without a leading zero, or after a word like "version"), year ranges and numbers
    written with thousands separators (unless a phone word is near) are not phone numbers.
"""

import ipaddress
import re
from functools import lru_cache

import regex
import tldextract
from presidio_analyzer import EntityRecognizer, LocalRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import (CreditCardRecognizer, EmailRecognizer, IpRecognizer,
                                                      UsSsnRecognizer)

# spaCy's multi-language code. Pattern recognizers are the same for every language (an IBAN is an IBAN in any
# text), so they are registered once, under this code, and run whatever the document's language.
PATTERN_LANGUAGE = "xx"

# presidio's LemmaContextAwareEnhancer defaults (context_similarity_factor, min_score_with_context_similarity,
# context_prefix_count): the boost a context word gives, the floor after boosting, and how many words before count
CONTEXT_BOOST, CONTEXT_FLOOR, CONTEXT_WORDS_BEFORE = 0.35, 0.4, 5
# presidio looks at no words after a match (context_suffix_count 0); phone lists put the label after the number
# ("089 72 63 41 office"), so two words after count here
CONTEXT_WORDS_AFTER = 2
# the raw text those words are read from (the detector keeps this much around a match inside its window)
CONTEXT_CHARS_BEFORE, CONTEXT_CHARS_AFTER = 80, 40

# BigCode PII pipeline, pii/utils/emails_ip_addresses_detection.py POPULAR_DNS_SERVERS
PUBLIC_DNS_SERVERS = frozenset({
    "8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "76.76.19.19", "76.223.122.150", "9.9.9.9", "149.112.112.112",
    "208.67.222.222", "208.67.220.220", "8.26.56.26", "8.20.247.20", "94.140.14.14", "94.140.15.15"})

# RFC 2606 section 2 and 3, RFC 6761 section 6: names reserved for documentation and testing
EXAMPLE_DOMAIN = re.compile(r"(?:^|\.)(?:example\.(?:com|net|org)|[^.]+\.(?:example|test|invalid|localhost)|"
                            r"example|test|invalid|localhost)$", re.IGNORECASE)


@lru_cache(maxsize=1)
def offline_tld_extractor() -> tldextract.TLDExtract:
    """tldextract on the public-suffix snapshot its wheel ships: no download, no cache folder.

    presidio's EmailRecognizer calls the module-level `tldextract.extract`, whose default extractor fetches the list
    from the network on first use (and waits for it to time out when there is none)."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


class TextContext:
    """Context words read from the raw text around a match (a blank spaCy pipeline has no lemmas).

    A result scoring below `needs_context_below` gains presidio's boost when one of the words before it (or just
    after it) starts with a context word."""

    needs_context_below = 0.5
    context: list[str]

    def context_regex(self) -> re.Pattern:
        """Whole words, case-insensitive; a word ending in "*" is a stem ("telefon*" finds "Telefonnummer")."""
        if getattr(self, "_context_regex", None) is None:
            words = sorted(self.context, key=len, reverse=True)
            alternatives = [re.escape(w[:-1]) + r"\w*" if w.endswith("*") else re.escape(w) for w in words]
            self._context_regex = re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)
        return self._context_regex

    def has_context(self, text: str, start: int, end: int) -> bool:
        before = text[max(0, start - CONTEXT_CHARS_BEFORE):start].split()[-CONTEXT_WORDS_BEFORE:]
        after = text[end:end + CONTEXT_CHARS_AFTER].split()[:CONTEXT_WORDS_AFTER]
        return bool(self.context_regex().search(" ".join(before + [""] + after)))

    def enhance_using_context(self, text, raw_recognizer_results, other_raw_recognizer_results, nlp_artifacts,
                              context=None):
        if not self.context:
            return raw_recognizer_results
        for result in raw_recognizer_results:
            if result.score < self.needs_context_below and self.has_context(text, result.start, result.end):
                result.score = min(EntityRecognizer.MAX_SCORE, max(result.score + CONTEXT_BOOST, CONTEXT_FLOOR))
                result.recognition_metadata[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
        return raw_recognizer_results


class ContextPatternRecognizer(TextContext, PatternRecognizer):
    """A regex recognizer from the YAML (`custom_recognizers`), its context words read from the raw text."""


class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's e-mail recognizer with tldextract's bundled suffix list, keeping reserved example domains."""

    def validate_result(self, pattern_text: str) -> bool:
        return offline_tld_extractor()(pattern_text).fqdn != ""

    def invalidate_result(self, pattern_text: str) -> bool:
        return bool(EXAMPLE_DOMAIN.search(pattern_text.rpartition("@")[2]))


class PublicIpRecognizer(IpRecognizer):
    """presidio's IPv4/IPv6 recognizer keeping addresses that identify no one (see the module docstring)."""

    def __init__(self, keep_private: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.keep_private = keep_private

    def invalidate_result(self, pattern_text: str) -> bool:
        try:
            address = ipaddress.ip_interface(pattern_text).ip
        except ValueError:
            return True
        if str(address) in PUBLIC_DNS_SERVERS:
            return True
        # IPv4's reserved block is 240.0.0.0/4 ("future use"); IPv6's "reserved" blocks are only not yet allocated
        # (Python counts all but 2000::/3), so an IPv6 address there is still treated as one that may be assigned
        not_routed = (address.is_loopback or address.is_link_local or address.is_unspecified or address.is_multicast
                      or (address.version == 4 and address.is_reserved))
        documentation = any(address in ipaddress.ip_network(net) for net in DOCUMENTATION_NETWORKS
                            if ipaddress.ip_network(net).version == address.version)
        return not_routed or documentation or (self.keep_private and address.is_private)


# RFC 5737 (IPv4) and RFC 3849 (IPv6) documentation ranges
DOCUMENTATION_NETWORKS = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")


class ContextSsnRecognizer(TextContext, UsSsnRecognizer):
    """presidio's US SSN recognizer, with 3-2-4 groups separated by spaces or dots needing a context word.

    presidio scores `\\d{3}[- .]\\d{2}[- .]\\d{4}` "medium" (0.5) whatever the separator; with spaces or dots the
    shape is as often a phone number or part of an address ("Suite 680 36 4022"), so only the hyphenated form, the
    SSA's own notation, stays medium on its own."""

    PATTERNS = [p for p in UsSsnRecognizer.PATTERNS if not p.name.startswith("SSN5")] + [
        Pattern("SSN5 (medium, hyphens)", r"\b([0-9]{3})-([0-9]{2})-([0-9]{4})\b", 0.5),
        Pattern("SSN6 (weak, spaces or dots)", r"\b([0-9]{3})([ .])([0-9]{2})\2([0-9]{4})\b", 0.3),
    ]


# ---- phone numbers ------------------------------------------------------------------------------------------------
# One or more groups of digits with one separator between groups (no line breaks), an optional international
# prefix, area code in parentheses, "(0)" trunk digit and extension. Not inside a longer word or number.
_GROUP_SEP = r"(?:[ .\-/\u00a0]|\u00a0?[ ]?[\-\u2013/][ ]?)"
PHONE_CANDIDATE = re.compile(
    r"(?<![\w+.\-/])"
    r"(?:(?:\+|\b00)\d{1,3}[ .\-]?(?:\(0\)[ ]?)?)?"
    r"(?:\(\d{1,5}\)[ .\-]?)?"
    rf"\d{{1,12}}(?:{_GROUP_SEP}\d{{1,12}}){{0,6}}"
    r"(?:[ ]?(?:x|[Ee]xt\.?|[Ee]xtension)[ ]?\d{1,6})?"  # lower-case x: "419-425 X 148" is a table, not an extension
    r"(?!\w|[\-+.,/]\d)")
_EXTENSION = re.compile(r"[ ]?(?:x|[Ee]xt\.?|[Ee]xtension)[ ]?\d{1,6}$")
_DATE = re.compile(r"(?:(?:19|20)\d\d[.\-/](?:0?[1-9]|1[0-2])[.\-/](?:0?[1-9]|[12]\d|3[01])|"
                   r"(?:0?[1-9]|[12]\d|3[01])[.\-/](?:0?[1-9]|1[0-2])[.\-/](?:19|20)?\d\d|"
                   r"(?:0?[1-9]|1[0-2])[.\-/](?:0?[1-9]|[12]\d|3[01])[.\-/](?:19|20)?\d\d)")
_STARTS_WITH_DATE = re.compile(r"(?:(?:19|20)\d\d[.\-/]\d\d?[.\-/]\d\d?|\d\d?[.\-/]\d\d?[.\-/](?:19|20)\d\d)(?!\d)")
_YEAR_RANGE = re.compile(r"(?:1[5-9]|20)\d\d ?[\-\u2013/] ?(?:(?:1[5-9]|20)\d\d|\d\d)")
_IPV4_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_SSN_SHAPE = re.compile(r"\d{3}-\d{2}-\d{4}")
_NANP = re.compile(r"(?:(?:\+?1|001)[ .\-])?(?:\(\d{3}\) ?|\d{3}([ .\-]))\d{3}([ .\-])\d{4}")
_LOCAL_3_4 = re.compile(r"\d{3} \d{4}")
_THOUSANDS = re.compile(r"\d{1,3}(?:([ .])\d{3})(?:\1\d{3})*")
_SAME_SEP_GROUPS = re.compile(r"\d{2,4}(?:([.\-])\d{2,4})(?:\1\d{2,4}){1,4}")
_VERSION_WORDS = re.compile(r"(?:version|release|build|update|firmware|kernel|\bv)\.?\s*$", re.IGNORECASE)

# presidio's PhoneRecognizer.CONTEXT without "number" (it precedes every kind of id: licence, order, account
# numbers), plus labels used in contact lists and the same words in the languages of the web pages we test on
# (de, fr, es, it, pt)
# (de, fr, es, it, pt); "*" marks a stem
# "answer*" and "ring": what one does to a telephone ("nobody is answering at 78 651 450", "ring me on ..."); a
# space-grouped number after them was missed (PHONE_NUMBER recall 0.946 on held-out samples, issue 17)
PHONE_CONTEXT = ["phone*", "telephone*", "cell", "cellphone*", "mobile", "call*", "tel", "fax", "office", "contact*",
                 "reach", "dial*", "hotline*", "whatsapp", "sms", "answer*", "ring", "telefon*", "téléphone*", "tél",
                 "teléfono*", "telefone*", "telefono*", "handy", "mobil", "móvil", "celular", "fon", "ruf", "anruf*",
                 "cellulare"]

# A street name after a number makes it a house number ("370 3911 Fourth Avenue", "12 45 Elm St."), not a phone:
# up to four capitalised words or ordinals ("Martin Luther King Jr Blvd"), then a street type (USPS Publication 28, Appendix C1, the common
# suffixes, written out and abbreviated). Capitalised, so "555 1234 any way" stays a phone. Read from the 40
# characters after a match the windows always hold (CONTEXT_CHARS_AFTER).
STREET_TYPES = ("Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|Terrace|Ter|"
                "Square|Sq|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Trail|Trl|Crescent|Cres|Close|Row|Alley|Plaza|Plz|"
                "Route|Rte|Pike|Expressway|Freeway|Turnpike|Loop|Mews|Walk|Path|Gardens|Grove|Hill|Park")
_STREET_AFTER = re.compile(rf"[ \t]+(?:(?:[A-Z][\w'.\-]*|\d+(?:st|nd|rd|th))[ \t]+){{0,4}}(?:{STREET_TYPES})\b")


class PhoneNumberRecognizer(TextContext, LocalRecognizer):
    """Phone numbers written the many ways people write them, scored by how unmistakably they look like one.

    presidio's PhoneRecognizer accepts what python-phonenumbers validates for a few regions (US, GB, DE, FR, IL, IN,
    CA, BR): on presidio-research's generated_large.json it finds 61% of phone numbers. Here a candidate is any run
    of 6 to 15 digits in groups (international prefix, area code in parentheses and extension allowed); then
      - not a phone: a date (or a date and time: "02.02.2022 10"), an IPv4 address, a hyphenated US SSN, a year range, a version number, six digits in
        fewer than three groups, numbers a street name follows (house numbers: "370 3911 Fourth Avenue");
      - strong (0.7, redacted on its own): an international prefix, an area code in parentheses, an extension, the
        North American 3-3-4 shape, a local 3-4 number, a leading trunk 0 with 8 to 12 digits, or 3 to 6 groups
        of 2 to 4 digits joined by the same "-" or ".";
      - weak (0.3, redacted only with a phone word near: presidio's context rule): anything else, such as digits
        separated by spaces ("61 51 81"), numbers with thousands separators, or 7 to 12 digits in one run.
    """

    STRONG, WEAK = 0.7, 0.3
    MIN_DIGITS, MAX_DIGITS = 6, 15  # E.164 allows at most 15 digits; 6 is the shortest subscriber number we accept

    def __init__(self, supported_language: str = PATTERN_LANGUAGE, context: list[str] | None = None):
        super().__init__(supported_entities=["PHONE_NUMBER"], supported_language=supported_language,
                         context=context or PHONE_CONTEXT, name="PhoneNumberRecognizer")

    def load(self) -> None:
        """Nothing to load: presidio calls this at construction; the patterns live in the class."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None) -> list[RecognizerResult]:
        results = []
        for match in PHONE_CANDIDATE.finditer(text):
            score = self.score(match.group(), text[max(0, match.start() - 20):match.start()])
            if score > 0 and _STREET_AFTER.match(text, match.end(), match.end() + CONTEXT_CHARS_AFTER):
                score = 0.0  # a house number: the street name follows
            if score > 0:
                results.append(RecognizerResult("PHONE_NUMBER", match.start(), match.end(), score, recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}))
        return results

    def score(self, candidate: str, before: str = "") -> float:
        """0 (not a phone number), WEAK or STRONG, for a candidate and the text just before it."""
        body = _EXTENSION.sub("", candidate)
        digits = sum(c.isdigit() for c in body)
        if not self.MIN_DIGITS <= digits <= self.MAX_DIGITS:
            return 0.0
        if digits == self.MIN_DIGITS and len(re.findall(r"\d+", body)) < 3:
            return 0.0  # six-digit numbers are written in pairs ("61 51 81"); "03 2657" is a house number and more
        if (_DATE.fullmatch(body) or _STARTS_WITH_DATE.match(body) or _IPV4_SHAPE.fullmatch(body)
                or _SSN_SHAPE.fullmatch(body) or _YEAR_RANGE.fullmatch(body)):
            return 0.0
        international = body.startswith(("+", "00"))
        if "." in body and not international and (_VERSION_WORDS.search(before) or re.fullmatch(r"[1-9]\d?\..*", body)):
            return 0.0
        if international and digits >= 8 or "(" in body or body != candidate:
            return self.STRONG
        if _NANP.fullmatch(body) or _LOCAL_3_4.fullmatch(body):
            return self.STRONG
        if _THOUSANDS.fullmatch(body):
            return self.WEAK
        if body.startswith("0") and 8 <= digits <= 12 and not body.isdigit():
            return self.STRONG
        if _SAME_SEP_GROUPS.fullmatch(body):
            return self.STRONG
        return self.WEAK


# ---- payment cards ---------------------------------------------------------------------------------------------
# Issuer identification numbers and the lengths each network issues (ISO/IEC 7812-1 numbering; the ranges as the
# networks publish them, tabulated in Wikipedia's "Payment card number", section "Issuer identification number"):
# (first digits, lowest..highest, card lengths). presidio's pattern reads 13-17 digits in 4 groups starting 4, 5[0-5],
# 6, 1 or 3: it misses 12-digit Maestro, 15-digit JCB (2131, 1800), 19-digit Visa, Maestro and UnionPay, and every
# 2-series Mastercard (2221-2720).
CARD_RANGES = (
    ((4, 4), (13, 16, 19)),  # Visa
    ((51, 55), (16,)), ((2221, 2720), (16,)),  # Mastercard
    ((34, 34), (15,)), ((37, 37), (15,)),  # American Express
    ((6011, 6011), (16, 17, 18, 19)), ((644, 649), (16, 17, 18, 19)), ((65, 65), (16, 17, 18, 19)),  # Discover
    ((3528, 3589), (16, 17, 18, 19)), ((2131, 2131), (15,)), ((1800, 1800), (15,)),  # JCB
    ((50, 50), tuple(range(12, 20))), ((56, 69), tuple(range(12, 20))),  # Maestro
    ((300, 305), (14, 15, 16, 17, 18, 19)), ((36, 36), (14, 15, 16, 17, 18, 19)), ((38, 39), (16, 17, 18, 19)),  # Diners
    ((62, 62), (16, 17, 18, 19)),  # UnionPay
)


def issued_card_number(digits: str) -> bool:
    """`digits` has a length the network of its first digits issues."""
    for (low, high), lengths in CARD_RANGES:
        width = len(str(low))
        if len(digits) in lengths and low <= int(digits[:width]) <= high:
            return True
    return False


NOT_IN_NUMBER_OR_URL = r"(?<!\d[ \-])(?<![/=?&#])"


class CardNumberRecognizer(CreditCardRecognizer):
    """presidio's credit card recognizer (its pattern, Luhn check and context) plus card numbers of 12 to 19 digits
    written as cards are: one run of digits, groups of four (the last one shorter: 4-4-4-4-3 for 19 digits), or
    American Express's 4-6-5. A match counts when the Luhn check passes and a network issues numbers of that length
    under those first digits (CARD_RANGES), which keeps 12-digit order numbers and the like out."""

    # not a run of groups cut out of a longer one ("4064-9800-2114-0478" out of a 19-digit number: no digit group
    # joined by a space or hyphen before or after the match), nor an id in a URL path or query
    # (".../posts/2395361813834269", a Luhn-valid 2-series number on a real trafilatura-eval page)
    PATTERNS = [Pattern(p.name, rf"{NOT_IN_NUMBER_OR_URL}{p.regex}(?![ \-]\d)", p.score)
                for p in CreditCardRecognizer.PATTERNS] + [
        Pattern("Card number, 12-19 digits (weak)",
                rf"{NOT_IN_NUMBER_OR_URL}\b(?:\d{{12,19}}|\d{{4}}([ \-])\d{{4}}(?:\1\d{{4}}){{0,2}}\1\d{{1,4}}|"
                rf"\d{{4}}([ \-])\d{{6}}\2\d{{4,5}})\b(?![ \-]\d)", 0.3),
    ]

    def validate_result(self, pattern_text: str) -> bool:
        """Luhn (presidio's check), and a length the network issues; what presidio's own pattern accepts stays
        accepted on Luhn alone, so its results are unchanged."""
        if not super().validate_result(pattern_text):
            return False
        digits = EntityRecognizer.sanitize_value(pattern_text, self.replacement_pairs)
        return issued_card_number(digits) or bool(PRESIDIO_CARD.fullmatch(pattern_text))


PRESIDIO_CARD = regex.compile(CreditCardRecognizer.PATTERNS[0].regex.replace("\\b", ""))
