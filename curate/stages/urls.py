"""URLs as the stages compare them: the normalised host and URL, the host's parent domains, the registered domain.

Normalisation (of a document's URL and of a list entry alike), so that lists match however a URL was written:
scheme, user info, port and fragment dropped; host lowercased, trailing dot and a leading `www.` dropped, an
internationalised host in its ASCII (punycode) form; a trailing `/` of the path dropped. Path and query keep their
case (servers treat them as case-sensitive). `http://User@WWW.Example.com:8080/a/b/?q=1#top` -> host `example.com`,
URL `example.com/a/b/?q=1` (the slash before `?` belongs to the path and stays).
"""

import re
from contextlib import suppress
from functools import lru_cache

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
# A Wayback Machine capture names the page it archived in its path, after a timestamp and an optional modifier:
# http://web.archive.org/web/20110111145835/http://catalogue.horse21.nl:80/aruba+hotels (pywb, which many web
# archives run, uses the same /web/<timestamp>[<mod>_]/<url> form)
_ARCHIVED = re.compile(r"^[A-Za-z]+://[^/]+/web/\d{4,14}(?:[a-z]{2}_)?/((?:https?://|www\.)\S+)$")


def archived_url(url: str) -> str | None:
    """The URL of the page a web-archive capture stands for, or None when `url` is not a capture."""
    match = _ARCHIVED.match(url.strip())
    return match.group(1) if match else None


def normalise_url(url: str) -> tuple[str, str]:
    """(host, URL) of a URL or a list entry, both normalised; the host is "" when there is none."""
    text = url.strip()
    if text.startswith(("http://", "https://")):  # nearly every URL: no regular expression
        text = text[text.index("//") + 2:]
    elif "://" in text:
        text = _SCHEME.sub("", text)
    text = text.partition("#")[0]
    end = len(text)
    for separator in "/?":
        found = text.find(separator, 0, end)
        if found >= 0:
            end = found
    host, rest = text[:end], text[end:]
    if "@" in host:
        host = host.rpartition("@")[2]
    host = host.partition("]")[0] + "]" if host.startswith("[") else host.partition(":")[0]  # IPv6 keeps its colons
    host = host.strip().strip(".").lower()
    if host.startswith("www."):
        host = host[4:]
    if host and not host.isascii():
        with suppress(UnicodeError):  # not a valid internationalised name: compared as written
            host = host.encode("idna").decode("ascii")
    return host, host + rest.removesuffix("/")


def host_suffixes(host: str) -> list[str]:
    """The host and each domain it belongs to: `a.b.example.co.uk` -> itself, `b.example.co.uk`, `example.co.uk`,
    `co.uk`, `uk`. An IP address is only itself."""
    if not host or _IPV4.match(host) or host.startswith("["):
        return [host] if host else []
    suffixes, dot = [host], host.find(".")
    while dot >= 0:
        suffixes.append(host[dot + 1:])
        dot = host.find(".", dot + 1)
    return suffixes


@lru_cache(maxsize=2)
def _domain_extractor(private_suffixes: bool):
    import tldextract

    # suffix_list_urls=(): the public-suffix snapshot bundled with tldextract, never the network
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=private_suffixes)


def registered_domain(url: str, private_suffixes: bool = False) -> str | None:
    """The domain a registrant owns (`news.bbc.co.uk` -> `bbc.co.uk`), from tldextract's bundled public-suffix list;
    for a host that is not under a public suffix (an IP address, `localhost`), the host itself. `private_suffixes`:
    also the list's private section, where each user of a hosting domain owns a name (`alice.github.io`,
    `bob.blogspot.com`) instead of all of them sharing `github.io`."""
    parts = _domain_extractor(private_suffixes)(url)
    domain = parts.top_domain_under_public_suffix or parts.domain
    return domain.lower() if domain else None  # hosts are case-insensitive: News.BBC.co.uk is bbc.co.uk
