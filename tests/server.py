"""Start and stop the local Cosmos-compatible server (npm @vercel/cosmosdb-server via server.js).

Used by the test session and by ``make demo``. The server is in-memory and empty at every start.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

__all__ = ["EMULATOR_KEY", "CosmosTestServer"]

EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
"""The well-known key of the Cosmos DB emulator; the launcher checks every signature against it."""

SERVER_DIR = Path(__file__).resolve().parent / "cosmos-server"


class CosmosTestServer:
    """``with CosmosTestServer() as server: server.url`` — strict signature checking is on."""

    def __init__(self, *, key: str = EMULATOR_KEY, env: dict[str, str] | None = None,
                 log_path: Path | None = None, start_timeout: float = 20.0) -> None:
        self.key = key
        self.url = ""
        self._env = env or {}
        self._log_path = log_path
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: BinaryIO | None = None

    def start(self) -> str:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node (>= 20) is not on PATH; the local Cosmos server needs it")
        if not (SERVER_DIR / "node_modules" / "@vercel" / "cosmosdb-server").is_dir():
            raise RuntimeError(
                f"the test server is not installed: run `npm ci --prefix {SERVER_DIR} --no-audit --no-fund` "
                "(make test does it)"
            )
        env = {**os.environ, "PORT": "0", "HOST": "127.0.0.1", "MASTER_KEY": self.key, **self._env}
        # stderr goes to a file (the caller's, or a temporary one) so a failed start can say why.
        self._log = open(self._log_path, "a+b") if self._log_path else tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            [node, str(SERVER_DIR / "server.js")], env=env, stdout=subprocess.PIPE, stderr=self._log,
        )
        line = self._read_first_line()
        if not line.startswith("LISTENING "):
            code = self._process.poll()
            self._log.flush()
            self._log.seek(0, os.SEEK_END)
            self._log.seek(max(0, self._log.tell() - 2000))
            stderr = self._log.read().decode(errors="replace")
            self.stop()
            raise RuntimeError(
                f"the Cosmos test server did not start (exit code {code}, first output {line!r}); "
                f"its stderr ends with:\n{stderr}"
            )
        self.url = line.split(" ", 1)[1].strip()
        return self.url

    def _read_first_line(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        result: list[bytes] = []
        reader = threading.Thread(target=lambda: result.append(self._process.stdout.readline()),  # type: ignore[union-attr]
                                  daemon=True)
        reader.start()
        reader.join(self._start_timeout)
        return result[0].decode(errors="replace") if result else ""

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if process is not None and process.stdout is not None:
            process.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> CosmosTestServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
