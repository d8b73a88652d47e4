"""Resolve a pipeline's input paths (files, folders, globs; local paths or any fsspec URL) into a file list.

Done once, before any work starts, so a missing path or an empty glob is an error that names it, and the manifest
can list every input file with its size. Each file also gets a `source` name relative to the root of the path or
glob it came from, so document ids do not depend on where the data sits on this machine.

Every file under a folder given as a path is an input, whatever its name: `_draft.html`, `.DS_Store` and a file of
another format are read, or rejected by the reader with a reason, never skipped. Only a glob the user writes
leaves files out, and the manifest records how many files each path or glob matched.
"""

import math
from dataclasses import dataclass

import fsspec
from fsspec.core import url_to_fs

_GLOB_CHARS = "*?["

# file name endings that tell a file's format (the input format when `format` is left out)
FORMAT_SUFFIXES = {
    "warc": (".warc", ".warc.gz", ".arc", ".arc.gz", ".wet", ".wet.gz", ".warc.zst"),
    "jsonl": (".jsonl", ".jsonl.gz", ".jsonl.zst", ".jsonl.bz2", ".json.gz", ".ndjson", ".json"),
    "parquet": (".parquet",),
    "html": (".html", ".htm", ".html.gz", ".htm.gz", ".xhtml"),
    "text": (".txt", ".txt.gz", ".md", ".text"),
    # MediaWiki XML dumps; the parts of a split dump end in .bz2 after a page range ("...xml-p10p30302.bz2")
    "mediawiki": (".xml.bz2", ".xml", ".bz2"),
}


# formats read the same way, a whole file as one document: an .html file among .txt files is read as text, and back
READ_ALIKE = {"html": ("html", "text"), "text": ("html", "text")}


def reads(fmt: str, file_format: str) -> bool:
    """Whether the reader of `fmt` reads a file whose name says `file_format`."""
    return file_format in READ_ALIKE.get(fmt, (fmt,))


def suffix_format(name: str) -> str | None:
    """The format a file name's ending says (None: an ending no format claims, or none)."""
    lowered = name.lower().rstrip("/")
    return next((fmt for fmt, suffixes in FORMAT_SUFFIXES.items() if lowered.endswith(suffixes)), None)


class InputError(ValueError):
    """An input path is missing, empty or unreadable. The message names it."""


@dataclass(frozen=True)
class InputFile:
    url: str  # what to open (fsspec URL or local path)
    source: str  # stable name: relative to the input root
    size: int
    format: str | None = None  # what the file name's ending says (suffix_format)


@dataclass(frozen=True)
class InputPath:
    """One entry of input.paths and what it matched (the manifest's `input.paths`)."""

    path: str
    kind: str  # "file", "folder" (every file under it) or "glob"
    files: int
    bytes: int


def _protocol_prefix(fs: fsspec.AbstractFileSystem, path: str) -> str:
    protocol = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
    return "" if protocol in ("file", "local") else f"{protocol}://"


def _glob_root(path: str) -> str:
    cut = min((path.index(ch) for ch in _GLOB_CHARS if ch in path), default=len(path))
    return path[:cut].rsplit("/", 1)[0] if "/" in path[:cut] else ""


def resolve_inputs(paths: list[str], directory_listing: bool = True) -> tuple[list[InputFile], list[InputPath]]:
    """Expand `paths` into files, and say what each path matched. Folders are walked recursively and every file in
    them is taken; only a glob selects. `directory_listing=False` (a saved dataset): a folder is one input.

    Raises InputError naming the path when it does not exist or matches nothing.
    """
    files: dict[str, InputFile] = {}
    matched: list[InputPath] = []
    for raw in paths:
        fs, path = url_to_fs(str(raw))
        prefix = _protocol_prefix(fs, str(raw))
        if any(ch in path for ch in _GLOB_CHARS):
            kind = "glob"
            matches = sorted(p for p in fs.glob(path) if fs.isfile(p))
            if not matches:
                raise InputError(f"input glob {raw!r} matches no file")
            root = _glob_root(path)
        elif fs.isdir(path):
            kind = "folder"
            if not directory_listing:
                matches = [path]
                root = path.rsplit("/", 1)[0]
            else:
                matches = sorted(fs.find(path))
                if not matches:
                    raise InputError(f"input folder {raw!r} has no file")
                root = path.rstrip("/")
        elif fs.isfile(path):
            kind = "file"
            matches = [path]
            root = path.rsplit("/", 1)[0] if "/" in path else ""
        else:
            raise InputError(f"input path {raw!r} does not exist")
        found = []
        for match in matches:
            source = match[len(root):].lstrip("/") if root and match.startswith(root) else match
            size = fs.size(match) if fs.isfile(match) else 0
            file = files.setdefault(prefix + match, InputFile(url=prefix + match, source=source, size=int(size or 0),
                                                              format=suffix_format(match)))
            found.append(file)
        matched.append(InputPath(str(raw), kind, len(found), sum(f.size for f in found)))
    return list(files.values()), matched


# How a run's input is cut into tasks by default (`executor.tasks` / `--tasks` overrides). A task is the unit of
# parallelism, of resuming after a kill (a task is redone whole) and of output (each task writes its own shards).
# So: enough tasks for PARALLEL_TASKS workers on a large input, but none under MIN_TASK_BYTES of input (below that
# a task costs less than the worker that runs it: a worker loads its models once, 10-15 CPU s for the web pipeline
# on multilingual pages, and each task writes a shard per split), none over MAX_TASK_BYTES (the default shard
# size, output.max_bytes_per_shard), and at most MAX_PARTS_PER_FILE tasks per file.
PARALLEL_TASKS = 16
# about 600 web pages of member-gzipped WARC, 20-25 CPU s of the web pipeline (measured in issue 18: the 1,032
# trafilatura-eval pages are 29 MB of WARC and cost 54 CPU s in one worker, of which about 12 s of model loading)
MIN_TASK_BYTES = 16 * 2**20
MAX_TASK_BYTES = 256 * 2**20
# Tasks are balanced by bytes, files whole where that balances them: 5 files of equal size made 2 tasks of 3 and 2
# files, and a 2-worker run waited for the larger with one worker idle (a third of its time on the 1,032 pages of
# issue 18). Where whole files leave a task more than BALANCE times the mean, each file is read as interleaved parts
# (`FilePart`: records part, part + parts, ...), the fewest parts that balance: every part reads its whole file and
# keeps its share of the records (reading is about 2% of the web pipeline's work a page), so at most
# MAX_PARTS_PER_FILE parts.
BALANCE = 1.1
MAX_PARTS_PER_FILE = 4
# How records are dealt to tasks, in a run's fingerprint (logs/run.json): a run started before file parts existed
# may have dealt them otherwise, and resuming it with this code must be refused, not mixed.
TASK_LAYOUT = "bytes, interleaved file parts"
# The formats whose files are read as parts: many records a file, cheap to read past. Not html and text (one
# document a file: its parts would be empty) nor mediawiki (converting each page's markup is most of its reading,
# and every part would repeat it).
PARTED_FORMATS = frozenset({"warc", "jsonl", "parquet", "hf"})


def default_tasks(files: list[InputFile], parted: bool = True) -> int:
    """The task count for `files`, from their bytes (see PARALLEL_TASKS); `parted`: the format is read as parts."""
    total = sum(file.size for file in files)
    task_bytes = min(max(total / PARALLEL_TASKS, MIN_TASK_BYTES), MAX_TASK_BYTES)
    return max(1, min((MAX_PARTS_PER_FILE if parted else 1) * len(files), math.ceil(total / task_bytes)))


@dataclass(frozen=True)
class FilePart:
    """What a task reads of a file: the records whose index in the file (from 0) modulo `parts` is in `shares`."""

    file: InputFile
    shares: tuple[int, ...] = (0,)
    parts: int = 1

    def reads(self, index: int) -> bool:
        return self.parts == 1 or index % self.parts in self.shares


def assign_files(files: list[InputFile], tasks: int, parted: bool = True) -> list[list[FilePart]]:
    """What each of `tasks` tasks reads, balanced by bytes: largest unit first to the task with the fewest bytes
    so far (ties: the lower task), a unit being a whole file or, where whole files cannot balance the tasks (see
    BALANCE) and `parted` (PARTED_FORMATS), one of its interleaved parts. Deterministic; every record is read by
    exactly one task; each task reads its files in input order, each once."""
    if not files:
        return [[] for _ in range(tasks)]
    most = max(1, min(MAX_PARTS_PER_FILE if parted else 1, tasks))
    for parts in range(1, most + 1):
        assigned, load = _balanced(files, tasks, parts)
        if max(load) <= BALANCE * sum(load) / tasks:
            break
    return [[FilePart(files[f], tuple(sorted(p for g, p in units if g == f)), parts)
             for f in sorted({f for f, _ in units})] for units in assigned]


def _balanced(files: list[InputFile], tasks: int, parts: int) -> tuple[list[list[tuple[int, int]]], list[float]]:
    """Each task's (file index, part) units and bytes, every file cut into `parts` parts of equal bytes."""
    load = [0.0] * tasks
    assigned: list[list[tuple[int, int]]] = [[] for _ in range(tasks)]
    # (ties: part by part, so that the parts 0 of files of one size, each with its file's first record, spread out)
    for f, part in sorted(((f, p) for f in range(len(files)) for p in range(parts)),
                          key=lambda u: (-files[u[0]].size, u[1], u[0])):
        task = min(range(tasks), key=lambda t: (load[t], t))
        assigned[task].append((f, part))
        load[task] += max(files[f].size, 1) / parts  # an empty file (or an unknown size) still counts as one
    return assigned, load
