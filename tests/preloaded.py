"""Pytest runs for the tests, each in its own process forked from one that imported the heavy libraries.

The suite starts ~140 pytest runs as a user would (`python -m pytest ...` in a project folder), and
each audit among them spent ~4 s of its ~8 importing torch, torch._dynamo (imported by the first
torch.optim optimizer), scikit-learn and scipy.signal before its first item: a third of the suite's
time on 2 cores. A server process per test process imports those libraries once and forks a child
per run; the child takes the run's folder, environment, sys.path and output files and calls pytest's
console entry point, as `python -m pytest` would, then exits with its exit code.

What differs from a fresh interpreter, on purpose or accepted:
- those libraries (never privacy_checks, never a project's files) are imported before the run starts;
- every child of one server shares its hash seed: a test comparing two runs for identical output asks
  for a fresh interpreter (`fresh=True`), so that set order varying between processes stays caught.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import pytest
from _pytest.pathlib import make_numbered_dir

# Forking a process that holds torch is what Linux does well; elsewhere each run is a fresh interpreter.
FORKS = sys.platform == "linux"
# Imported once in the server: what an audit run imports before its first item, slowest first.
PRELOADED = ("torch", "torch._dynamo", "sklearn.linear_model", "scipy.signal", "numpy", "pytest")


def _serve() -> None:
    """The server: preload, then one JSON request per line on stdin, one exit code per line on stdout."""
    import importlib

    for name in PRELOADED:
        importlib.import_module(name)
    base_path = sys.path[1:]  # without this file's folder: each run gets its own first entries
    channel_in, channel_out = sys.stdin.buffer, sys.stdout.buffer
    for line in channel_in:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request, base_path)
        _, status = os.waitpid(pid, 0)
        channel_out.write(b"%d\n" % os.waitstatus_to_exitcode(status))
        channel_out.flush()


def _child(request: dict, base_path: list[str]) -> None:
    """Become `python -m pytest ARGS` in the request's folder and environment; never returns."""
    code: object = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
        sys.path[:] = [request["cwd"], *extra, *base_path]  # as -m puts the working folder first
        for fd, path, flags in (
            (0, os.devnull, os.O_RDONLY),
            (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        ):
            opened = os.open(path, flags, 0o644)
            os.dup2(opened, fd)
            os.close(opened)
        import pytest.__main__ as entry

        sys.argv = [entry.__file__, *request["args"]]
        code = pytest.console_main()
    except SystemExit as exit_:
        code = exit_.code
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            if code is None:
                code = 0
            elif not isinstance(code, int):
                print(code, file=sys.stderr)
                code = 1
            os._exit(code)


class _Server:
    """The client's handle on one server process, started on first use."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def run(self, args: list[str], cwd: Path, env: dict[str, str], stdout: Path, stderr: Path) -> int:
        request = {"args": args, "cwd": str(cwd), "env": env, "stdout": str(stdout), "stderr": str(stderr)}
        with self._lock:
            process = self._started()
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(json.dumps(request).encode() + b"\n")
            process.stdin.flush()
            reply = process.stdout.readline()
        if not reply:
            raise RuntimeError(f"the preloaded pytest server exited ({process.poll()}); see the test's stderr")
        return int(reply)

    def _started(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            # Its own environment: no PYTHONPATH (each run sets its own sys.path), nothing of pytest's.
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("PYTEST_")}
            self._process = subprocess.Popen(
                [sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd="/"
            )
            atexit.register(self.close)
        return self._process

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            self._process.wait(timeout=30)


_SERVER = _Server()


def run_pytest(
    cwd: Path, env: dict[str, str], args: list[str], stdout: Path, stderr: Path, fresh: bool = False
) -> pytest.RunResult:
    """`python -m pytest ARGS` in `cwd` with environment `env`, its output written to `stdout` and
    `stderr`: a child of the preloaded server, or (`fresh`) a new interpreter."""
    start = time.perf_counter()
    if fresh or not FORKS:
        with stdout.open("w", encoding="utf8") as out, stderr.open("w", encoding="utf8") as err:
            command = [sys.executable, "-mpytest", *args]
            ret = subprocess.run(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err).returncode
    else:
        ret = _SERVER.run(args, cwd, env, stdout, stderr)
    duration = time.perf_counter() - start
    out_lines = stdout.read_text(encoding="utf8").splitlines()
    err_lines = stderr.read_text(encoding="utf8").splitlines()
    return pytest.RunResult(ret, out_lines, err_lines, duration)


def runpytest_subprocess(pytester: pytest.Pytester, *args: str | os.PathLike[str], timeout: float | None = None):
    """`pytester.runpytest_subprocess`, run by `run_pytest`: the same numbered --basetemp, `-p` plugins,
    working folder (the project), environment (the project first on PYTHONPATH) and output files."""
    if timeout is not None:
        raise NotImplementedError("a preloaded run has no timeout; use pytester.run")
    basetemp = make_numbered_dir(root=pytester.path, prefix="runpytest-", mode=0o700)
    argv = [f"--basetemp={basetemp}", *(os.fspath(a) for a in args)]
    for plugin in pytester.plugins:
        if not isinstance(plugin, str):
            raise ValueError(f"a subprocess run takes plugins by name, not {plugin!r}")
        argv = ["-p", plugin, *argv]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH", "")]))
    return run_pytest(Path.cwd(), env, argv, pytester.path / "stdout", pytester.path / "stderr")


if __name__ == "__main__":
    _serve()
