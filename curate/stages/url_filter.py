"""`url_filter`: reject documents whose URL is on a block list: its host, a domain the host belongs to, or the URL.

Lists are files (curate/stages/url_lists.py): `block_lists` defaults to datatrove's bundled merged list (the adult,
gambling, malware and phishing domains FineWeb removes with datatrove's URLFilter); `allow_lists` name domains or
URLs never blocked, whatever a block list says (a university's pages on a hosting domain a list blocks). A URL
`https://shop.casino.example/a` is checked as its normalised URL `shop.casino.example/a`, its host
`shop.casino.example` and each parent domain (`casino.example`, `example`), the most specific first, so a list entry
`casino.example` blocks every host under it. A web-archive capture (`http://web.archive.org/web/<timestamp>/<url>`)
is checked as the page it archived, then as the archive's host. Documents without a URL are kept (`no_url`).

Why not datatrove's URLFilter (importable here once pyahocorasick is installed): it matches only the host and the
registered domain (a listed `b.example.com` does not block `a.b.example.com`); it compares the raw URL, scheme
included, with a list whose entries have none, so its URL list never matches a URL that has a scheme; it holds its
4.56 M domains as a Python set (800 MB and 8 s per process, measured); it has no allow-list and writes no column.
Its word rules (banned words in the URL) stay available: name `datatrove.pipeline.filters.URLFilter` as a stage.

Place it first: it needs only the URL, so a blocked page costs no extraction. Column `url_blocked_by`:
`<list>:<entry>` that blocked the document (kept documents: null; in `mark` mode blocked documents are kept with it
set). Rejection `url_blocklist`, detail naming the URL and the entry. Counters: `blocked/host`, `blocked/parent_domain`,
`blocked/url`, `allowed` (a block overridden by an allow-list), `no_url`.
"""

from pathlib import Path
from typing import Literal

import pyarrow as pa
from datatrove.data import Document

from curate.stages.base import CurateFilter, Rejection
from curate.stages.url_lists import DATATROVE, UrlLists, datatrove_lists, load_list
from curate.stages.urls import archived_url, host_suffixes, normalise_url

BATCH_SIZE = 1024  # documents looked up together (one searchsorted call)


def named_lists(paths: list[str], key: str) -> dict[str, Path]:
    """`datatrove` or file paths -> {name shown in url_blocked_by: path}. Each list is read once here, so a file
    that cannot be read is an error naming `key` before the run, and the workers find its hashes cached."""
    lists = {}
    for entry in paths:
        path = datatrove_lists() if entry == DATATROVE else Path(entry)
        if not path.is_file():
            raise ValueError(f"{key}: {entry!r} is not a file" + (" (datatrove's bundled list is missing: "
                                                                  "reinstall datatrove)" if entry == DATATROVE else ""))
        try:
            load_list(path)
        except ValueError as error:
            raise ValueError(f"{key}: {error}") from None
        name = DATATROVE if entry == DATATROVE else path.name
        lists[str(path) if name in lists else name] = path  # two lists of one file name: the second by its path
    return lists


def url_candidates(url: str) -> tuple[str, list[str]]:
    """(host, keys to look up): the normalised URL (when it has a path or query), then the host and its parent
    domains, most specific first. For a web-archive capture, the archived page's keys, then the archive's host."""
    original = archived_url(url)
    host, key = normalise_url(original or url)
    keys = ([key] if key != host else []) + host_suffixes(host)
    if original:
        keys += host_suffixes(normalise_url(url)[0])
    return host, keys


class UrlFilter(CurateFilter):
    name = "url_filter"

    def __init__(self, block_lists: list[str] | None = None, allow_lists: list[str] | None = None,
                 mode: Literal["remove", "mark"] = "remove"):
        super().__init__(batch_size=BATCH_SIZE)
        if mode not in ("remove", "mark"):
            raise ValueError(f"mode must be 'remove' or 'mark', got {mode!r}")
        self.mode = mode
        self.block = UrlLists(named_lists([DATATROVE] if block_lists is None else block_lists, "block_lists"))
        self.allow = UrlLists(named_lists(allow_lists or [], "allow_lists"))

    def columns(self) -> dict[str, pa.DataType]:
        return {"url_blocked_by": pa.string()}

    def filter(self, doc: Document) -> bool | tuple[bool, Rejection]:
        return self.filter_batch([doc])[0]

    def filter_batch(self, docs: list[Document]) -> list[bool | tuple[bool, Rejection]]:
        hosts, candidates = [], []
        for doc in docs:
            host, keys = url_candidates(str(doc.metadata.get("url") or ""))
            hosts.append(host)
            candidates.append(keys)
        blocked = self.block.lookup(candidates)
        allowed = self.allow.lookup([keys if hit else [] for keys, hit in zip(candidates, blocked)])
        return [self._decide(*args) for args in zip(docs, hosts, blocked, allowed)]

    def _decide(self, doc: Document, host: str, hit: tuple[str, str] | None, allowed) -> bool | tuple[bool, Rejection]:
        doc.metadata["url_blocked_by"] = None
        if not host:
            self.stat_update("no_url")
            return True
        if hit is None:
            return True
        if allowed is not None:
            self.stat_update("allowed")
            return True
        list_name, entry = hit
        kind = "host" if entry == host else "url" if entry.startswith(host) else "parent_domain"
        self.stat_update(f"blocked/{kind}")
        doc.metadata["url_blocked_by"] = f"{list_name}:{entry}"
        if self.mode == "mark":
            return True
        return False, Rejection("url_blocklist", detail=f"{doc.metadata.get('url')} matches {entry!r} of {list_name}")
