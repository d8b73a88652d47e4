"""What a user sees of a run's processes: progress on stderr when it is not a terminal, moving in every phase, and
no process left behind when `curate run` alone is killed."""

import json
import os
import re
import signal
import subprocess
import sys
import time

from pipeline_helpers import REPO, curate_cli


def _session_processes(session: int) -> list[str]:
    """The processes of a session (pid and command), this test's own excluded."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            command = open(f"/proc/{entry}/cmdline", "rb").read().replace(b"\0", b" ").decode()[:120]
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":  # fields[3]: the session id; Z: already exited
            found.append(f"{entry} {command}")
    return found


def test_kill_9_of_the_run_alone_leaves_no_process_behind(tmp_path, page_warcs):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(json.dumps({"input": {"paths": [str(page_warcs)], "format": "warc"},
                                    "stages": [{"extract": {}}, {"langid": {}}, {"exact_dedup": {}}],
                                    "output": {"path": str(tmp_path / "out")}, "executor": {"workers": 2}}))
    # a session of its own, so that everything the run starts can be found (and cleaned up if the test fails)
    process = subprocess.Popen([sys.executable, "-m", "curate.cli", "run", str(pipeline)], cwd=REPO,
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and process.poll() is None:
            workers = [p for p in _session_processes(process.pid) if "forkserver" in p]
            if len(workers) >= 3 and (tmp_path / "out" / "logs" / "01-stream" / "logs").is_dir():
                break  # the forkserver and two workers, the first phase's tasks under way
            time.sleep(0.2)
        assert process.poll() is None, "the run finished before it could be killed"
        time.sleep(2)  # the tasks are running: the workers have loaded models, extraction is under way
        os.kill(process.pid, signal.SIGKILL)  # the command alone, as a user types kill -9 PID
        process.wait()
        deadline = time.time() + 10
        while time.time() < deadline and _session_processes(process.pid):
            time.sleep(0.2)
        assert _session_processes(process.pid) == []
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_progress_lines_on_stderr_move_in_every_phase(tmp_path):
    """stderr is a pipe here, as when it goes to a log file: plain lines, one at least for each phase as it
    completes, with the documents of each streaming phase counted."""
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(json.dumps({"input": {"paths": [str(REPO / "examples" / "web" / "*.warc.gz")], "format": "warc"},
                                    "stages": [{"extract": {}}, {"exact_dedup": {}},
                                               {"split": {"fractions": {"train": 0.8, "val": 0.1, "test": 0.1}}}],
                                    "output": {"path": str(tmp_path / "out")}}))
    result = curate_cli("run", pipeline)
    lines = [line for line in result.stderr.splitlines() if line.startswith("progress ")]
    done = {re.search(r"phase \d+/\d+ (\S+)", line).group(1): line for line in lines if line.endswith(" done")}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    phases = [phase["name"] for phase in manifest["phases"]]
    assert list(done) == phases == ["01-stream", "02-exact_dedup-pairs", "03-exact_dedup-clusters", "04-stream"]
    for phase in ("01-stream", "04-stream"):  # the documents through each streaming phase: all 41 pages
        kept, rejected = (int(n.replace(",", "")) for n in re.search(r"kept ([\d,]+)  rejected ([\d,]+)", done[phase]).groups())
        assert kept + rejected == 41 and kept > 0 and rejected > 0, done[phase]
    assert "tasks 1/1" in done["03-exact_dedup-clusters"]
    # the last phase's documents are the run's: the same kept and rejected as the manifest
    conservation = manifest["conservation"]
    assert f"kept {conservation['kept']}  rejected {conservation['rejected']}" in done["04-stream"]
