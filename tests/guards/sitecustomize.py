"""Imported by every Python process started with this folder on PYTHONPATH (the `curate` command, datatrove's
forkserver and pool workers, the extract sandbox, the Manager process): the guards the reliability tests arm
through environment variables. Without those variables it does nothing.

CURATE_GUARD_NETWORK=<log file>   every socket connection (and name lookup) that could leave the machine is refused
    with OSError and written to the log; AF_UNIX sockets and loopback addresses are allowed (multiprocessing's
    Manager and forkserver talk over AF_UNIX). Each guarded process (started, or forked from a guarded one) writes
    `armed <pid>` to `<log file>.armed`, so a test can see that the guard reached the workers. A library that
    catches the error and falls back silently still leaves its attempt in the log: tests/test_offline.py checks it.

CURATE_KILL_AT=<json>   {"event": "write"|"rename", "path": <regex>, "log": <file>}: the first time a process of the
    run writes a Parquet batch into a file whose path matches (event write: after the batch, so the file is left
    half-written, without its footer), or is about to rename a file onto a matching path (event rename: the
    temporary file is complete, the rename has not happened), it records the path in `log` and sends SIGKILL to
    its whole process group: the command and every worker die at once, mid-write. tests/test_crash_safety.py.
"""

import os

if os.environ.get("CURATE_GUARD_NETWORK"):
    import ipaddress
    import socket

    _LOG = os.environ["CURATE_GUARD_NETWORK"]

    class NetworkRefused(ConnectionRefusedError):
        """Raised by the guard instead of opening a connection that could leave the machine."""

    def _record(what: str) -> None:
        with open(_LOG, "a") as log:
            log.write(f"{os.getpid()} {what}\n")

    def _address(host):
        """(is it this machine, is it a numeric address) for a host as sockets and getaddrinfo take it."""
        if host is None:
            return True, True  # getaddrinfo(None, port): the local machine
        host = host.decode() if isinstance(host, bytes) else str(host)
        if host in ("localhost", "localhost.localdomain", ""):
            return True, False
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback, True
        except ValueError:
            return False, False  # a name: resolving it would ask a DNS server

    def _check(sock, address, call: str) -> None:
        if sock.family == getattr(socket, "AF_UNIX", None):
            return
        host = address[0] if isinstance(address, tuple) and address else address
        if not _address(host)[0]:
            _record(f"{call} {address!r}")
            raise NetworkRefused(f"network access refused by the test guard: {call} {address!r}")

    _connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    _getaddrinfo, _gethostbyname, _gethostbyname_ex = socket.getaddrinfo, socket.gethostbyname, socket.gethostbyname_ex

    def connect(self, address):
        _check(self, address, "connect")
        return _connect(self, address)

    def connect_ex(self, address):
        _check(self, address, "connect_ex")
        return _connect_ex(self, address)

    def sendto(self, data, *args):
        _check(self, args[-1], "sendto")
        return _sendto(self, data, *args)

    def _lookup(original, name):
        def lookup(host, *args, **kwargs):
            if not any(_address(host)):  # a numeric address needs no lookup: its connect is checked
                _record(f"{name} {host!r}")
                raise socket.gaierror(socket.EAI_NONAME, f"name lookup refused by the test guard: {host!r}")
            return original(host, *args, **kwargs)
        return lookup

    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
    socket.getaddrinfo = _lookup(_getaddrinfo, "getaddrinfo")
    socket.gethostbyname = _lookup(_gethostbyname, "gethostbyname")
    socket.gethostbyname_ex = _lookup(_gethostbyname_ex, "gethostbyname_ex")
    def _armed() -> None:
        with open(_LOG + ".armed", "a") as armed:
            armed.write(f"armed {os.getpid()}\n")

    _armed()
    os.register_at_fork(after_in_child=_armed)  # a forked worker inherits the guard: say so too


if os.environ.get("CURATE_KILL_AT"):
    import json
    import re
    import signal

    _RULE = json.loads(os.environ["CURATE_KILL_AT"])
    _PATH = re.compile(_RULE["path"])

    def _kill(path: str) -> None:
        with open(_RULE["log"], "a") as log:
            log.write(f"{_RULE['event']} {path}\n")
        os.killpg(os.getpgrp(), signal.SIGKILL)

    if _RULE["event"] == "rename":
        def _guarded(original):
            def rename(src, dst, *args, **kwargs):
                if _PATH.search(os.fspath(dst)):
                    _kill(os.fspath(dst))
                return original(src, dst, *args, **kwargs)
            return rename

        os.rename, os.replace = _guarded(os.rename), _guarded(os.replace)  # shutil.move calls os.rename
    else:
        import pyarrow.parquet as pq

        _write_table = pq.ParquetWriter.write_table

        def write_table(self, table, *args, **kwargs):
            result = _write_table(self, table, *args, **kwargs)
            path = getattr(self.where, "path", self.where)
            if isinstance(path, (str, os.PathLike)) and _PATH.search(os.fspath(path)):
                _kill(os.fspath(path))
            return result

        pq.ParquetWriter.write_table = write_table
