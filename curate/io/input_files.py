"""Resolve a pipeline's input paths (files, folders, globs; local paths or any fsspec URL) into a file list.

Done once, before any work starts, so a missing path or an empty glob is an error that names it, and the manifest
can list every input file with its size. Each file also gets a `source` name relative to the root of the path or
glob it came from, so document ids do not depend on where the data sits on this machine.
"""

from dataclasses import dataclass

import fsspec
from fsspec.core import url_to_fs

_GLOB_CHARS = "*?["


class InputError(ValueError):
    """An input path is missing, empty or unreadable. The message names it."""


@dataclass(frozen=True)
class InputFile:
    url: str  # what to open (fsspec URL or local path)
    source: str  # stable name: relative to the input root
    size: int


def _protocol_prefix(fs: fsspec.AbstractFileSystem, path: str) -> str:
    protocol = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
    return "" if protocol in ("file", "local") else f"{protocol}://"


def _glob_root(path: str) -> str:
    cut = min((path.index(ch) for ch in _GLOB_CHARS if ch in path), default=len(path))
    return path[:cut].rsplit("/", 1)[0] if "/" in path[:cut] else ""


def resolve_inputs(paths: list[str], suffixes: tuple[str, ...] | None = None, directory_listing: bool = True) -> list[InputFile]:
    """Expand `paths` into files. Folders are walked recursively (only `suffixes` kept when given).

    Raises InputError naming the path when it does not exist or matches nothing.
    """
    files: dict[str, InputFile] = {}
    for raw in paths:
        fs, path = url_to_fs(str(raw))
        prefix = _protocol_prefix(fs, str(raw))
        if any(ch in path for ch in _GLOB_CHARS):
            matches = sorted(p for p in fs.glob(path) if fs.isfile(p))
            if not matches:
                raise InputError(f"input glob {raw!r} matches no file")
            root = _glob_root(path)
        elif fs.isdir(path):
            if not directory_listing:
                matches = [path]
                root = path.rsplit("/", 1)[0]
            else:
                matches = sorted(p for p in fs.find(path) if not _hidden(p[len(path):]))
                if suffixes:
                    matches = [p for p in matches if p.lower().endswith(suffixes)]
                if not matches:
                    wanted = f" with suffix {', '.join(suffixes)}" if suffixes else ""
                    raise InputError(f"input folder {raw!r} has no file{wanted}")
                root = path.rstrip("/")
        elif fs.isfile(path):
            matches = [path]
            root = path.rsplit("/", 1)[0] if "/" in path else ""
        else:
            raise InputError(f"input path {raw!r} does not exist")
        for match in matches:
            source = match[len(root):].lstrip("/") if root and match.startswith(root) else match
            size = fs.size(match) if fs.isfile(match) else 0
            files.setdefault(prefix + match, InputFile(url=prefix + match, source=source, size=int(size or 0)))
    return list(files.values())


def _hidden(relative: str) -> bool:
    return any(part.startswith((".", "_")) for part in relative.strip("/").split("/") if part)
