"""External parts the suite needs: PostgreSQL, Redis, an SMTP server, a live web server.

Each is taken from the environment when CI set it up (TEST_DATABASE_URL, REDIS_URL), else started
here when the binaries are installed (a throwaway PostgreSQL cluster, a redis-server), else the
test is skipped with the reason, except under CI=true, where a missing part is a failure.
"""

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.serving import WSGIRequestHandler, make_server

IN_CI = os.environ.get("CI", "").lower() == "true"


def missing(reason: str):
    """Skip outside CI; fail under CI=true (a missing part there is a broken pipeline, not a pass)."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- PostgreSQL

class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # no access log lines in the test output
        pass


class LoopbackServer:
    """A WSGI app served on 127.0.0.1 (a free port) from a daemon thread, without access log lines: what the
    fakes of external systems answer on. `start()` returns the server; `url` is its base URL once started."""

    def __init__(self, app, ssl_context=None) -> None:
        self.app = app
        self.ssl_context = ssl_context  # HTTPS (e.g. a fake that asks for client certificates) when given
        self.url = ""
        self._server = None
        self._thread: threading.Thread | None = None

    def start(self) -> "LoopbackServer":
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler,
                                   ssl_context=self.ssl_context)
        scheme = "https" if self.ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None


class LoopbackFake:
    """The lifecycle of a fake external system: `start()` serves `wsgi_app()` on a LoopbackServer and sets
    `url`; `stop()` stops it (twice is harmless). Subclasses answer the vendor's protocol in `wsgi_app`."""

    url = ""
    _http: LoopbackServer | None = None

    def wsgi_app(self):
        return self.app

    def start(self):
        self._http = LoopbackServer(self.wsgi_app()).start()
        self.url = self._http.url
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            self._http = None


def _pg_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    return None


class ThrowawayPostgres:
    """initdb + pg_ctl on a free loopback port, as the postgres user when we are root."""

    def __init__(self) -> None:
        self.bindir = _pg_bindir()
        self.datadir: Path | None = None
        self.port = 0

    @property
    def available(self) -> bool:
        return self.bindir is not None

    def _as_pg(self, args: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *args]
        return args

    def start(self) -> str:
        self.datadir = Path(tempfile.mkdtemp(prefix="portal-pg-"))
        os.chmod(self.datadir, 0o700)
        if os.geteuid() == 0:
            shutil.chown(self.datadir, "postgres", "postgres")
        self.port = free_port()
        subprocess.run(
            self._as_pg([str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres", "-A", "trust",
                         "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
            check=True, capture_output=True,
        )
        options = (f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        subprocess.run(
            self._as_pg([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-w", "-t", "60",
                         "-l", str(self.datadir / "server.log"), "-o", options, "start"]),
            check=True, capture_output=True,
        )
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if self.datadir is None:
            return
        subprocess.run(
            self._as_pg([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"]),
            check=False, capture_output=True,
        )
        shutil.rmtree(self.datadir, ignore_errors=True)
        self.datadir = None


class PostgresServer:
    """The server the suite uses: TEST_DATABASE_URL if given, else a throwaway cluster."""

    def __init__(self) -> None:
        self.admin_url: str | None = os.environ.get("TEST_DATABASE_URL")
        self.throwaway: ThrowawayPostgres | None = None
        self.problem: str | None = None

    def ensure(self) -> str:
        if self.admin_url:
            return self.admin_url
        if self.problem:
            missing(self.problem)
        self.throwaway = ThrowawayPostgres()
        if not self.throwaway.available:
            self.problem = "PostgreSQL not available: set TEST_DATABASE_URL or install the server (initdb)"
            missing(self.problem)
        try:
            self.admin_url = self.throwaway.start()
        except (subprocess.CalledProcessError, OSError) as exc:
            self.problem = f"could not start a throwaway PostgreSQL: {exc}"
            missing(self.problem)
        return self.admin_url

    def create_database(self) -> str:
        admin = self.ensure()
        name = f"portal_test_{uuid.uuid4().hex[:12]}"
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return make_url(admin).set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        engine = create_engine(self.ensure(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    def stop(self) -> None:
        if self.throwaway is not None:
            self.throwaway.stop()


def new_sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / f'portal-{uuid.uuid4().hex[:8]}.db'}"


# ---------------------------------------------------------------- Redis

class RedisServer:
    def __init__(self) -> None:
        self.url: str | None = os.environ.get("REDIS_URL")
        self.process: subprocess.Popen | None = None
        self.directory: str | None = None

    def ensure(self) -> str:
        if self.url:
            return self.url
        binary = shutil.which("redis-server")
        if binary is None:
            missing("Redis not available: set REDIS_URL or install redis-server")
        port = free_port()
        self.directory = tempfile.mkdtemp(prefix="portal-redis-")
        self.process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
             "--dir", self.directory],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        self.url = f"redis://127.0.0.1:{port}/0"
        return self.url

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            shutil.rmtree(self.directory, ignore_errors=True)


def stop_process(process: "subprocess.Popen | None") -> None:
    """A server process this module's fakes started, stopped: asked to end, killed after 10 s, its pipe closed."""
    if process is None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    if process.stderr is not None:
        process.stderr.close()


# ---------------------------------------------------------------- SMTP (aiosmtpd)

class SMTPSink:
    """A real SMTP server on loopback that keeps what it receives (aiosmtpd)."""

    def __init__(self, require_auth: bool = False, tls: "SelfSignedCertificate | None" = None) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[tuple[bytes, bytes]] = []
        self._received = threading.Event()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
                sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                sink.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
                sink._received.set()
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            from aiosmtpd.smtp import AuthResult

            sink.logins.append((auth_data.login, auth_data.password))
            return AuthResult(success=auth_data.password == b"secret", handled=False)

        self.port = free_port()
        kwargs: dict = {}
        if require_auth:
            # With TLS offered, credentials are accepted only after STARTTLS (as real servers do).
            kwargs = {"authenticator": authenticator, "auth_require_tls": tls is not None, "auth_required": True}
        if tls is not None:
            kwargs |= {"tls_context": tls.server_context(), "require_starttls": True}
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)

    def start(self) -> "SMTPSink":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            self._received.wait(0.05)
            self._received.clear()
        return self.messages


class SelfSignedCertificate:
    """A throwaway certificate for 127.0.0.1 made by `openssl`, for TLS servers in tests."""

    def __init__(self) -> None:
        openssl = shutil.which("openssl")
        if openssl is None:
            missing("openssl not available: install the openssl package")
        self.directory = Path(tempfile.mkdtemp(prefix="portal-tls-"))
        self.cert, self.key = self.directory / "cert.pem", self.directory / "key.pem"
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(self.key), "-out", str(self.cert)],
            check=True, capture_output=True,
        )

    def server_context(self):
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self):
        """A client context that trusts only this certificate (hostname checked against 127.0.0.1)."""
        import ssl

        return ssl.create_default_context(cafile=str(self.cert))

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


# ---------------------------------------------------------------- Chromium (Playwright drives Debian's)

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    if not path:
        missing("Chromium not available: install Debian's chromium or set CHROMIUM_PATH")
    return path


def mtls_server_context(cert_file, key_file, ca_file) -> ssl.SSLContext:
    """A fake server's TLS: TLS ≥ 1.2, its certificate, and a client certificate signed by `ca_file` required
    (the mTLS of the PSP, the Sefin and the city of São Paulo)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(cafile=str(ca_file))
    context.verify_mode = ssl.CERT_REQUIRED
    return context
