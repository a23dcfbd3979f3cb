"""The moto server in its own process, so the emulator's CPU does not share the
benchmark's GIL (in AWS the services run elsewhere too).

``python -m bench.awsprocess`` prints the server's URL on its first line and serves
until its standard input closes. Idle long polls are emulated as short polls every
``POLL_INTERVAL`` seconds (the local default of 20 ms keeps a core busy with the idle
lanes' pollers, a cost AWS's server-side long polls do not have).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["AwsProcess"]

ROOT = Path(__file__).resolve().parents[1]
POLL_INTERVAL = 0.05


class AwsProcess:
    """Starts ``python -m bench.awsprocess`` and reads its URL."""

    def __init__(self) -> None:
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> AwsProcess:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.awsprocess"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        self.url = self._proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            raise RuntimeError("the moto server process did not start")
        return self

    def stop(self) -> None:
        if self._proc is None:
            return
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


def main() -> None:
    from local import awsserver

    awsserver._POLL_INTERVAL = POLL_INTERVAL
    server = awsserver.AwsServer().start()
    print(server.url, flush=True)
    sys.stdin.read()  # until the parent closes it (or dies)
    server.stop()


if __name__ == "__main__":
    main()
