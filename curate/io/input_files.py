"""Resolve a pipeline's input paths (files, folders, globs; local paths or any fsspec URL) into a file list.

Done once, before any work starts, so a missing path or an empty glob is an error that names it, and the manifest
can list every input file with its size. Each file also gets a `source` name relative to the root of the path or
glob it came from, so document ids do not depend on where the data sits on this machine.
"""

import math
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


# How a run's input is cut into tasks by default (`executor.tasks` / `--tasks` overrides). A task is the unit of
# parallelism, of resuming after a kill (a task is redone whole) and of output (each task writes its own shards).
# So: enough tasks for PARALLEL_TASKS workers on a large input, but none under MIN_TASK_BYTES of input (below that
# a task costs less than the worker that runs it: a worker loads its models once, 10-15 CPU s for the web pipeline
# on multilingual pages, and each task writes a shard per split), and none over MAX_TASK_BYTES (the default shard
# size, output.max_bytes_per_shard), never more tasks than files.
PARALLEL_TASKS = 16
# about 600 web pages of member-gzipped WARC, 20-25 CPU s of the web pipeline (measured in issue 18: the 1,032
# trafilatura-eval pages are 29 MB of WARC and cost 54 CPU s in one worker, of which about 12 s of model loading)
MIN_TASK_BYTES = 16 * 2**20
MAX_TASK_BYTES = 256 * 2**20


def default_tasks(files: list[InputFile]) -> int:
    """The task count for `files`, from their bytes (see PARALLEL_TASKS)."""
    total = sum(file.size for file in files)
    task_bytes = min(max(total / PARALLEL_TASKS, MIN_TASK_BYTES), MAX_TASK_BYTES)
    return max(1, min(len(files), math.ceil(total / task_bytes)))


def assign_files(files: list[InputFile], tasks: int) -> list[list[InputFile]]:
    """The files of each of `tasks` tasks, balanced by bytes: largest file first to the task with the fewest bytes
    so far (ties: the lower task). Deterministic, and each task's files stay in input order."""
    load = [0] * tasks
    assigned: list[list[int]] = [[] for _ in range(tasks)]
    for index in sorted(range(len(files)), key=lambda i: (-files[i].size, i)):
        task = min(range(tasks), key=lambda t: (load[t], t))
        assigned[task].append(index)
        load[task] += max(files[index].size, 1)  # an empty file (or an unknown size) still counts as one
    return [[files[i] for i in sorted(indices)] for indices in assigned]


def _hidden(relative: str) -> bool:
    return any(part.startswith((".", "_")) for part in relative.strip("/").split("/") if part)
