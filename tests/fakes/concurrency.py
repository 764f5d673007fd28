"""Run one function in several threads released together by a barrier: the shape of every race test."""

import threading


def concurrently(count: int, target) -> tuple[list, list[BaseException]]:
    """`target(index)` in `count` threads started at the same moment → (results, exceptions), each in
    completion order. Each thread opens what it needs itself (an app context: its own session and connection)."""
    errors, results, start = [], [], threading.Barrier(count, timeout=30)

    def run(index):
        try:
            start.wait()
            results.append(target(index))
        except BaseException as exc:  # collected for the assertions
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors
