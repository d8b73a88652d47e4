"""Bytes to text: the declared charset, then UTF-8, then detection; and a sniff for binary payloads.

Shared by the WARC reader, the folder readers and the extract stage (bytes from a datatrove reader), so every
input gets the same rules. A leaf module: it imports nothing of curate.
"""

import codecs
import re

# Bytes that start common non-text formats; a payload that starts so is binary whatever its Content-Type says.
_BINARY_MAGIC = (
    b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"%PDF", b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"\xfd7zXZ",
    b"(\xb5/\xfd", b"RIFF", b"\x00\x00\x01\x00", b"OggS", b"ID3", b"\x7fELF", b"MZ", b"wOFF", b"wOF2",
)
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]{1,40})""", re.I)


class UndecodableError(ValueError):
    """No charset decodes the bytes with at most MAX_REPLACED_SHARE of characters replaced."""


def looks_binary(data: bytes) -> bool:
    """Known binary magic, or NUL bytes in the first 8 KiB (text in UTF-16/32 carries a BOM and is handled)."""
    head = data[:8192]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return False
    return head.startswith(_BINARY_MAGIC) or b"\x00" in head


_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\f")


def looks_binary_lines(head: bytes) -> bool:
    """For a file of text lines (JSON lines): known binary magic, or control bytes (NUL, ...) in more than 1% of the
    head. Random bytes have about 11%; a text file with a stray NUL is not binary: that one line is invalid, and
    the others are still records."""
    if head.startswith(_BINARY_MAGIC):
        return True
    return sum(head.count(bytes([b])) for b in _CONTROL_BYTES) > 0.01 * len(head)


def _normal(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        return codecs.lookup(charset.strip().strip("\"'")).name
    except LookupError:
        return None


def html_meta_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:4096])
    return match.group(1).decode("ascii", "replace") if match else None


# A page that is valid in its charset but for a few stray bytes (a truncated multi-byte character, one mis-pasted
# symbol) is common on the web; rejecting it would lose the page for one byte. Up to this share of replaced
# characters is accepted and counted (the `decode_errors` column); above it the text is garbage.
MAX_REPLACED_SHARE = 0.001


def decode_bytes(data: bytes, declared: str | None = None, html: bool = False) -> tuple[str, str, int]:
    """Decode `data`; return (text, charset used, number of undecodable bytes replaced by U+FFFD).

    Order: a BOM; the declared charset (HTTP header); an HTML <meta charset>; UTF-8; cchardet's guess; then the
    best of these with replacement, if few bytes need it. A declared charset that fails strictly is not trusted
    (servers often lie); detection decides instead. Raises UndecodableError when nothing decodes it acceptably.
    """
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                      (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(name), name, 0
            except UnicodeDecodeError:
                break
    candidates = [_normal(declared)]
    if html:
        candidates.append(_normal(html_meta_charset(data)))
    candidates.append("utf-8")
    tried = set()
    for charset in candidates:
        if not charset or charset in tried:
            continue
        tried.add(charset)
        try:
            return data.decode(charset), charset, 0
        except (UnicodeDecodeError, LookupError):
            continue
    import cchardet  # faust-cchardet, from datatrove[io]

    guess = cchardet.detect(data[:1 << 20])
    charset = _normal(guess.get("encoding"))
    if charset and charset not in tried and (guess.get("confidence") or 0) >= 0.5:
        try:
            return data.decode(charset), charset, 0
        except (UnicodeDecodeError, LookupError):
            pass  # the guess fails strictly too: fall through to decoding with replacement
    for candidate in dict.fromkeys([charset, *candidates]):
        if not candidate:
            continue
        text = data.decode(candidate, "replace")
        replaced = text.count("\ufffd") - data.count("\ufffd".encode(candidate, "ignore") or b"\x00\x00\x00\x00")
        if replaced <= max(1, MAX_REPLACED_SHARE * len(text)):
            return text, candidate, max(replaced, 0)
    raise UndecodableError(
        f"bytes do not decode as {', '.join(sorted(tried))}" + (f" or detected {charset}" if charset else "")
    )


def decode_utf8(data: bytes) -> tuple[str, str, int]:
    """Bytes that should be UTF-8 (a JSON line: RFC 8259 §8.1): (text, charset, bytes replaced). A few stray bytes
    (at most MAX_REPLACED_SHARE of the characters) are replaced and counted, so one bad byte does not cost the
    record, and detection never turns the valid rest into mojibake; more than that is a legacy charset, left to
    `decode_bytes` (which raises UndecodableError when nothing fits)."""
    try:
        return data.decode("utf-8"), "utf-8", 0
    except UnicodeDecodeError:
        text = data.decode("utf-8", "replace")
    replaced = text.count("\ufffd") - data.count("\ufffd".encode("utf-8"))
    if replaced <= max(1, MAX_REPLACED_SHARE * len(text)):
        return text, "utf-8", replaced
    return decode_bytes(data)
