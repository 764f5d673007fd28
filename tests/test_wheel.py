"""`pip install .` gives a working portal: the wheel carries the templates, static files, migrations and compiled
translations, and the `portal` command serves the app and runs the job consumer outside the checkout.

The wheel is built as `uv build` builds it (hatchling and Babel from the test environment: no network), installed
into a new virtual environment whose dependencies come from the test environment's site-packages (a .pth file: no
download), and run from a temporary directory, so nothing can be read from the checkout by accident — the test
checks that the imported `portal` is the installed one.
"""

import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.fakes.externals import free_port

ROOT = Path(__file__).resolve().parent.parent
UV = Path(sys.executable).parent / "uv"


def _get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - our own loopback server
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _wait_for_http(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _get(url)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([str(UV), "build", "--wheel", "--no-build-isolation", "--out-dir", str(out)], cwd=ROOT,
                   check=True, capture_output=True)
    [built] = out.glob("portal-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A new virtual environment with the wheel installed; its `bin` directory."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([str(UV), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # The dependencies: the test environment's site-packages, after the new environment's own (where the wheel is).
    Path(purelib, "test-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # Compiled as `pip install .` compiles (README), so the portal's processes below do not compile it each time.
    subprocess.run([str(UV), "pip", "install", "--quiet", "--no-deps", "--compile-bytecode", "--python", str(python),
                    str(wheel)],
                   check=True, capture_output=True)
    return venv / "bin"


def _catches(pid: int, signum: int) -> bool:
    """Whether process `pid` has a handler for `signum` (Linux: the SigCgt mask of /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(caught & (1 << (signum - 1)))


def _wait_until(condition, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)


def _environment() -> dict:
    """The test session's environment without its portal settings: the defaults of an installed portal."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PORTAL_", "DATABASE_URL", "JOBS_URL", "PYTHONPATH"))}
    env.update({"PORTAL_ENV": "development", "MAIL_BACKEND": "file"})
    return env


def test_the_wheel_carries_templates_static_files_migrations_and_compiled_catalogs(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "portal/templates/base.html" in names
    assert any(name.startswith("portal/templates/emails/") for name in names)
    assert any(name.startswith("portal/static/vendor/") for name in names)
    assert "portal/migrations/env.py" in names
    assert sum(name.startswith("portal/migrations/versions/") for name in names) >= 27
    assert "portal/translations/en/LC_MESSAGES/messages.mo" in names
    assert not any(name.startswith(("tests/", "bench/", "instance/")) or name in ("config.py", "wsgi.py")
                   for name in names)
    entry_points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
    assert "portal = portal.console:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_installed_portal_migrates_serves_and_runs_its_jobs_outside_the_checkout(installed, tmp_path):
    work = tmp_path / "site"  # the current directory: its instance/ holds the development files
    work.mkdir()
    env = _environment()
    where = subprocess.run([str(installed / "python"), "-c", "import portal; print(portal.__file__)"], cwd=work,
                           env=env, check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(installed.parent) and not Path(where).is_relative_to(ROOT)

    migrated = subprocess.run([str(installed / "portal"), "db", "upgrade"], cwd=work, env=env, capture_output=True,
                              text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert (work / "instance" / "portal.db").is_file() and (work / "instance" / "secret_key").is_file()

    port = free_port()
    web = subprocess.Popen([str(installed / "portal"), "web", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                           cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    # `-n` (passed through to the consumer): no periodic job is started.
    worker = subprocess.Popen([str(installed / "portal"), "worker", "--workers", "1", "-n"], cwd=work, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_http(f"{base}/ping")
        status, body = _get(f"{base}/entrar")
        assert status == 200 and "Entrar" in body.decode()  # a template from the wheel, in Portuguese
        stylesheet = next(part.split('"')[0] for part in body.decode().split('href="')[1:]
                          if part.startswith("/static/") and '.css' in part.split('"')[0])
        assert _get(f"{base}{stylesheet}")[0] == 200  # a static file from the wheel
        assert _get(f"{base}/saude")[0] == 200  # the migrated database answers
        # The compiled English catalog is in the wheel: the API's problem titles follow Accept-Language.
        titles = {language: json.loads(_get(f"{base}/api/v1/organization", {"Accept-Language": language})[1])["title"]
                  for language in ("pt-BR", "en")}
        assert titles["pt-BR"] != titles["en"], titles
    finally:
        if web.poll() is None:
            os.killpg(web.pid, signal.SIGINT)
        # The worker is stopped as a service manager stops it (SIGTERM: Huey's immediate stop), once its handler is
        # in place: a graceful Ctrl-C waits for any job running (CI once waited more than 60 s for it),
        # and a signal before the consumer's handlers would only kill it.
        _wait_until(lambda: worker.poll() is not None or _catches(worker.pid, signal.SIGTERM), seconds=120)
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
        web.wait(timeout=60)
        output, _ = worker.communicate(timeout=60)
    assert "Huey consumer started" in output and "send_email" in output, output  # the portal's jobs registered
    assert "Periodic tasks are disabled" in output, output  # the consumer's own options reach it
    assert "Received SIGTERM" in output and worker.returncode == 0, output
