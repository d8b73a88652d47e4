"""Offline guarantee: the shipped web and text pipelines and the trainer run with every network connection refused,
in the `curate` process and in every process it starts (tests/guards/sitecustomize.py, armed through PYTHONPATH).

Only AF_UNIX sockets and loopback addresses are let through (multiprocessing's Manager and datatrove's forkserver
talk over AF_UNIX). A refused attempt is logged even when the library that made it catches the error and carries on
(tldextract, for one, falls back to its bundled snapshot), so the test fails on any attempt, not only on a crash.
The HF_*_OFFLINE variables are removed from the environment: the product has to be offline by itself.
"""

import os
import subprocess
import sys
import textwrap

import pytest

from pipeline_helpers import REPO

GUARDS = REPO / "tests" / "guards"

# the positive control: the guard refuses a lookup in the process itself and a connection from a forkserver worker,
# and lets loopback and AF_UNIX through
CONTROL = textwrap.dedent("""
    import socket, urllib.request
    import multiprocess

    def reach_out(_):
        import socket  # the function travels to the worker by value (dill), without this module's globals

        try:
            socket.create_connection(("192.0.2.1", 80), timeout=5)  # TEST-NET-1, never routed
        except OSError as error:
            return type(error).__name__
        return "connected"

    if __name__ == "__main__":
        try:
            urllib.request.urlopen("http://example.com/", timeout=5)
            print("main: connected")
        except OSError as error:
            print("main:", type(error).__name__)
        with multiprocess.get_context("forkserver").Pool(1) as pool:
            print("worker:", pool.map(reach_out, [0])[0])
        server = socket.create_server(("127.0.0.1", 0))
        socket.create_connection(server.getsockname(), timeout=5).close()
        print("loopback: ok")
""")


def _guarded_env(log) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE")}
    env["PYTHONPATH"] = os.pathsep.join([str(GUARDS), os.environ.get("PYTHONPATH", "")])
    env["CURATE_GUARD_NETWORK"] = str(log)
    return env


def _attempts(log) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _armed_pids(log) -> set[str]:
    armed = log.with_name(log.name + ".armed")
    return {line.split()[1] for line in armed.read_text().splitlines()} if armed.exists() else set()


@pytest.mark.slow
def test_pipelines_and_trainer_run_with_the_network_refused(tmp_path):
    control_log = tmp_path / "control.log"
    control = subprocess.run([sys.executable, "-c", CONTROL], cwd=tmp_path, env=_guarded_env(control_log),
                             capture_output=True, text=True, timeout=120)
    assert control.returncode == 0, control.stderr
    assert control.stdout.splitlines() == ["main: URLError", "worker: NetworkRefused", "loopback: ok"]
    attempts = _attempts(control_log)
    assert [line.split()[1] for line in attempts] == ["getaddrinfo", "connect"], attempts
    assert len({line.split()[0] for line in attempts}) == 2  # two processes: the script and its worker

    log = tmp_path / "network.log"
    env = _guarded_env(log)

    def curate(*args, wait=True):
        process = subprocess.Popen([sys.executable, "-m", "curate.cli", *map(str, args)], cwd=REPO, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return finish(process, args) if wait else (process, args)

    def finish(process, args):
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, f"curate {' '.join(map(str, args))}: {stderr[-3000:]}"
        return stdout

    # the web run with a task per file: the two tasks run in a forkserver's two pool workers, whose network must
    # be refused too (one task would run in the command's own process)
    runs = [curate("run", f"pipelines/{name}.yaml", "--output", tmp_path / name, *extra, wait=False)
            for name, extra in (("web", ("--tasks", "2")), ("text", ()))]
    for process, args in runs:  # side by side: each spends much of its time starting processes and loading models
        finish(process, args)
    curate("train", tmp_path / "text", "--config", "cpu", "max_seconds=3",
           "eval_iters=2", f"out_dir={tmp_path / 'run'}")
    sample = curate("sample", tmp_path / "run", "--prompt", "The ", "--max-new-tokens", "40", "--seed", "1")
    assert sample.strip()
    curate("tokenize", tmp_path / "text", "--tokenizer", tmp_path / "run", "--seq-len", "65")
    # the URL stages: datatrove's block list, registered domains from tldextract's bundled suffix list
    urls = tmp_path / "urls.yaml"
    urls.write_text(f"input: {{format: warc, paths: [examples/web]}}\noutput: {{path: {tmp_path / 'urls'}}}\n"
                    "stages: [{url_filter: {}}, {domain_cap: {max_per_domain: 3}}]\n")
    curate("run", urls)
    assert _attempts(log) == [], "something tried to reach the network"
    # the guard was in the 4 commands and in the web run's processes (its forkserver and 2 pool workers)
    assert len(_armed_pids(log)) >= 7
