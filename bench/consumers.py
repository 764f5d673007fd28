"""Real `huey_consumer` processes for bench/billing_run.py --consumers: started, waited for, read, stopped.

Each consumer is its own process (`--workers 1 --worker-type thread -n`), logging to a file of its own, so the
log says which consumer ran which job and how long Huey measured it ("… executed in 0.123s").
"""

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HUEY_CONSUMER = Path(sys.executable).parent / "huey_consumer"
# Huey's own line once a task returns: "portal.billing.jobs.complete_invoice: <task id> 3 retries executed in
# 1.234s" (the retries left, when the task has any).
EXECUTED = re.compile(r"(portal\.[\w.]+): ([0-9a-f-]{36})(?: \d+ retries)? executed in ([0-9.]+)s")
PROBLEMS = ("Traceback", "ERROR:", "Unhandled exception")


class Consumers:
    """`count` consumer processes of `portal.jobs.registry.huey`, one worker thread each, periodic tasks off."""

    def __init__(self, count: int, env: dict, directory: Path) -> None:
        self.env = {**env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.logs = [directory / f"consumer-{n + 1}.log" for n in range(count)]
        self.processes: list[subprocess.Popen] = []

    def command(self) -> list[str]:
        # A short polling delay (Huey's default backs off to 10 s) so an idle consumer sees new jobs at once.
        return [str(HUEY_CONSUMER), "portal.jobs.registry.huey", "--workers", "1", "--worker-type", "thread",
                "--delay", "0.05", "--max-delay", "0.2", "-n"]

    def start(self) -> None:
        for log in self.logs:
            with log.open("w") as out:  # a file, not a pipe nobody reads while the bench runs
                self.processes.append(subprocess.Popen(self.command(), cwd=ROOT, env=self.env, stdout=out,
                                                       stderr=subprocess.STDOUT))

    def wait_until_running(self, timeout: float = 120) -> None:
        """Until every consumer has imported the portal's jobs and logged that it runs."""
        deadline = time.monotonic() + timeout
        for process, log in zip(self.processes, self.logs, strict=True):
            while "Periodic tasks are disabled." not in log.read_text():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"consumer did not start ({log}):\n{log.read_text()[-2000:]}")
                time.sleep(0.05)

    def offsets(self) -> list[int]:
        return [log.stat().st_size for log in self.logs]

    def executed(self, since: list[int] | None = None) -> list[list[tuple[str, str, float]]]:
        """(task name, task id, seconds) of each job each consumer finished, from its log (after `since`)."""
        found = []
        for n, log in enumerate(self.logs):
            text = log.read_bytes()[since[n] if since else 0:].decode(errors="replace")
            found.append([(name, task_id, float(seconds)) for name, task_id, seconds in EXECUTED.findall(text)])
        return found

    def wait_for_jobs(self, task_ids: set[str], timeout: float) -> bool:
        """Until the logs show every job of `task_ids` finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if task_ids <= {task_id for jobs in self.executed() for _, task_id, _ in jobs}:
                return True
            time.sleep(0.05)
        return False

    def stop(self, timeout: float = 30) -> None:
        """SIGINT (as Ctrl-C or a service manager): each finishes its job and exits; killed after `timeout`."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for process in self.processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def problems(self) -> list[str]:
        """What went wrong, for the report: an exit status other than 0, tracebacks and errors in a log."""
        found = []
        for n, (process, log) in enumerate(zip(self.processes, self.logs, strict=True), start=1):
            if process.returncode not in (0, None):
                found.append(f"consumer {n} exited with {process.returncode}")
            lines = [line for line in log.read_text().splitlines() if any(p in line for p in PROBLEMS)]
            if lines:
                found.append(f"consumer {n}: {len(lines)} error line(s) in {log}, first: {lines[0]}")
        return found
