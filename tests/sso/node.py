"""A node process of the SSO tests' providers (tests/sso/oidc.py, tests/sso/saml.py): started on a
free port of 127.0.0.1 with its stdin held open (it exits when the test process does), its output
drained for its whole life, and ready once it prints `READY <base address>`."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path


class NodeServer:
    """The process part of a loopback provider; a subclass writes its files into `_dir` and
    calls `_launch`. `base` is the address it printed."""

    name = "node"
    error: type[Exception] = RuntimeError

    def __init__(self, startup_timeout: float) -> None:
        self.startup_timeout = startup_timeout
        self.base = ""
        self._dir: Path | None = None
        self._process: subprocess.Popen[str] | None = None
        self._output: list[str] = []
        self._ready = threading.Event()

    def _node(self, package_dir: Path, package: str) -> str:
        node = shutil.which("node")
        if node is None:
            raise self.error("node is not on PATH (`.ci/services` installs Debian's nodejs)")
        if not (package_dir / "node_modules" / package).is_dir():
            raise self.error(
                f"{package_dir}/node_modules is missing: run `npm ci --prefix {package_dir} "
                "--no-audit --no-fund` (make test does)"
            )
        return node

    def _launch(self, argv: list[str], cwd: Path) -> None:
        self._process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.PIPE,  # the provider exits when it closes (when this process dies)
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._read_output, daemon=True).start()
        closed = self._ready.wait(self.startup_timeout)
        if not self.base:
            try:  # its output closed: it is exiting
                code: int | None = self._process.wait(5 if closed else 0)
            except subprocess.TimeoutExpired:
                code = None
            self.stop()
            why = (
                f"did not print READY within {self.startup_timeout:g} s"
                if code is None
                else f"exited with status {code}"
            )
            raise self.error(f"{self.name} {why}:\n{self.output}")

    def _read_output(self) -> None:
        # Drains the pipe for the process's whole life, so that the provider never blocks on it.
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self._output.append(line)
            if line.startswith("READY ") and not self._ready.is_set():
                self.base = line.split(None, 1)[1].strip()
                self._ready.set()
        self._ready.set()  # it exited: stop waiting

    @property
    def output(self) -> str:
        """What the provider printed (stdout and stderr)."""
        return "".join(self._output)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            assert process.stdin is not None
            process.stdin.close()
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
