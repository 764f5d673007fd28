"""A local S3 server for the document store's tests: moto's standalone server on 127.0.0.1, its state in memory.

`.ci/run` starts one (`.venv/bin/moto_server -H 127.0.0.1 -p PORT`) and exports S3_TEST_ENDPOINT; the `s3_endpoint`
fixture uses it when the variable is set, else starts its own on a free port. `MotoServer(port=...)` also starts a
private one a test may stop and start again (a bucket that is down, then back).
"""

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.fakes.externals import free_port, stop_process

MOTO = Path(sys.executable).with_name("moto_server")
# moto accepts any credentials; these keep boto3 from looking for real ones.
CREDENTIALS = {"DOCUMENT_STORE_S3_ACCESS_KEY_ID": "testing", "DOCUMENT_STORE_S3_SECRET_ACCESS_KEY": "testing",
               "DOCUMENT_STORE_S3_REGION": "us-east-1"}


class MotoServer:
    """moto_server on 127.0.0.1:`port` (a free one by default)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "MotoServer":
        self.process = subprocess.Popen([str(MOTO), "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server did not start: {self.process.stderr.read().decode()[-500:]}")
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).close()  # noqa: S310 - loopback
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto_server did not answer within 20 s")

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


def shared_endpoint() -> tuple[str, MotoServer | None]:
    """The endpoint `.ci/run` started (S3_TEST_ENDPOINT), or one started here (returned to be stopped)."""
    url = os.environ.get("S3_TEST_ENDPOINT")
    if url:
        return url, None
    server = MotoServer().start()
    return server.url, server
