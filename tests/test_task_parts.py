"""Tasks are balanced by bytes, whole files where that balances them, interleaved parts of files where not: every
record is read by exactly one task, with the id it has in the whole file, and the output is the same documents
whatever the task count."""

import gzip
import shutil

from curate.io.input_files import BALANCE, InputFile, assign_files, default_tasks
from pipeline_helpers import REPO, funnel_counts, read_rows, run_pipeline, shared


def _records_per_task(files: list[InputFile], tasks: int, records: int = 60) -> list[list[tuple[str, int]]]:
    return [[(unit.file.url, index) for unit in units for index in range(records) if unit.reads(index)]
            for units in assign_files(files, tasks)]


def test_every_record_is_read_by_exactly_one_task():
    pages = sorted(shared("extraction", "trafilatura-eval", "eval").glob("*.html.gz"))
    sizes = [[p.stat().st_size for p in pages[:n]] for n in (1, 2, 5, 8, 30)]
    for file_sizes in sizes + [[0, 0, 5], [10**9]]:
        files = [InputFile(f"f{i}", f"f{i}", size) for i, size in enumerate(file_sizes)]
        for tasks in (1, 2, 3, 4, 7, 16):
            read = [record for task in _records_per_task(files, tasks) for record in task]
            assert sorted(read) == sorted((file.url, index) for file in files for index in range(60)), (file_sizes, tasks)
            for units in assign_files(files, tasks):  # a file once per task, files in input order
                urls = [unit.file.url for unit in units]
                assert urls == sorted(set(urls), key=lambda url: int(url[1:]))


def test_whole_files_where_they_balance_parts_where_they_do_not():
    def loads(files, tasks):
        return [sum(u.file.size * len(u.shares) / u.parts for u in units) for units in assign_files(files, tasks)]

    # 8 files of the same size, 8 or 2 tasks: whole files
    equal = [InputFile(f"f{i}", f"f{i}", 14_000_000) for i in range(8)]
    for tasks in (2, 4, 8):
        assert all(unit.parts == 1 for units in assign_files(equal, tasks) for unit in units)
    # the 5 WARC files of issue 18 (17.2 and 12.2 MB as whole files): 2 parts each, 14.7 MB a task
    five = [InputFile(f"f{i}", f"f{i}", size) for i, size in enumerate([5711362, 6557198, 5677079, 6042309, 5424717])]
    assert {unit.parts for units in assign_files(five, 2) for unit in units} == {2}
    assert max(loads(five, 2)) <= BALANCE * sum(loads(five, 2)) / 2
    # one large file: up to 4 tasks share it
    one = [InputFile("f0", "f0", 10**9)]
    assert [[(u.shares, u.parts) for u in units] for units in assign_files(one, 4)] == \
        [[((k,), 4)] for k in range(4)]


def test_one_document_files_stay_whole_and_first_records_spread():
    """html/text files hold one document (record 0): read as parts, all but one part would be empty. Other formats:
    the parts 0 of files of one size (each with its file's first record) go to different tasks."""
    three = [InputFile(f"p{i}.html", f"p{i}.html", 40_000) for i in range(3)]
    assert [[unit.file.url for unit in units] for units in assign_files(three, 2, parted=False)] == \
        [["p0.html", "p2.html"], ["p1.html"]]
    assert default_tasks(three, parted=False) <= 3 and default_tasks([InputFile("x", "x", 10**9)], parted=False) == 1
    first_records = [sum(0 in unit.shares for unit in units) for units in assign_files(three, 2)]
    assert sorted(first_records) == [1, 2]


def test_the_same_documents_whatever_the_task_count(tmp_path):
    """Two WARC files (41 pages) and a WARC with a malformed record, as 1 task and as 3 (files read in parts): the
    same kept documents, the same rejections with the same reasons, each record once."""
    folder = tmp_path / "in"
    folder.mkdir()
    for warc in sorted((REPO / "examples" / "web").glob("*.warc.gz")):
        shutil.copy(warc, folder / warc.name)
    broken = gzip.decompress(shared("warc", "warcio", "test", "data", "example.warc.gz").read_bytes())
    (folder / "broken.warc").write_bytes(broken[:len(broken) // 2] + b"WARC/1.0\r\nnot a header\r\n\r\n" +
                                         broken[len(broken) // 2:])
    config = {"input": {"paths": [str(folder)], "format": "warc"},
              "stages": [{"extract": {}}, {"exact_dedup": {}}, {"split": {}}]}
    runs, funnels = {}, []
    for tasks in (1, 3):
        result = run_pipeline(config, tmp_path / f"tasks{tasks}", tasks=tasks)
        funnels.append(funnel_counts(result.manifest))  # skipped record types and input files counted once
        rows = [row for kind in ("train", "val", "test", "rejected") for row in read_rows(tmp_path / f"tasks{tasks}", kind)]
        assert len(rows) == len({row["id"] for row in rows}) == result.manifest["conservation"]["read"]
        runs[tasks] = {row["id"]: (row["text"], row.get("split"), row.get("rejected_by"), row.get("reason"))
                       for row in rows}
    assert runs[1] == runs[3] and funnels[0] == funnels[1]
    assert any(reason for _, _, _, reason in runs[1].values())  # the malformed record, rejected in both
    assert len(runs[1]) > 41
