"""The benchmark's CPU accounting (``moco.bench.backup``): per process and per thread group, from
``/proc``, as the backup's figures are read."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from moco.bench.backup import cpu_delta, cpu_snapshot, thread_group


def test_threads_are_grouped_by_their_kernel_name() -> None:
    assert thread_group("tokio-runtime-w") == "http_client"
    assert thread_group("python") == "python"
    assert thread_group("python3.11") == "python"


def test_a_delta_is_what_was_spent_between_two_snapshots() -> None:
    assert cpu_delta({"a": 1.0, "b": 2.0}, {"a": 1.5, "b": 1.0, "c": 0.25}) == {"a": 0.5, "b": 0.0, "c": 0.25}


def test_a_snapshot_counts_a_busy_thread_a_named_process_and_a_waited_child() -> None:
    """Half a second of work in each place shows in its own entry, not elsewhere."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        before = cpu_snapshot({"idle": sleeper.pid})

        def spin() -> None:
            end = time.thread_time() + 0.5
            while time.thread_time() < end:
                pass

        t = threading.Thread(target=spin)
        t.start()
        t.join()
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass",
            ],
            check=True,
            timeout=60,
        )
        spent = cpu_delta(before, cpu_snapshot({"idle": sleeper.pid}))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert spent["python"] >= 0.45
    assert spent["children"] >= 0.45
    assert spent["idle"] < 0.2
