"""``orderflow api`` under pyinstrument, profiling only between two signals.

The harness starts this instead of ``python -m orderflow.cli api``, puts the server under load,
sends SIGUSR1 (start sampling), waits, sends SIGUSR2 (stop and save the session to
``$BENCH_PROFILE_OUT``) and then SIGINT. Start-up imports and idle time before the load are
therefore not in the profile. Sampling is wall-clock, main thread only (the event loop): under
saturating load the pinned core is busy, so wall time ≈ CPU time of the request path. The
exporters' background threads are not sampled (their CPU shows up as time the loop thread did
not get).
"""

from __future__ import annotations

import os
import signal
from types import FrameType

from pyinstrument import Profiler

from orderflow.cli import main as orderflow_main


def main() -> None:
    profiler = Profiler(interval=0.001, async_mode="disabled")
    out = os.environ["BENCH_PROFILE_OUT"]

    def start(_signum: int, _frame: FrameType | None) -> None:
        if not profiler.is_running:
            profiler.start()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        if profiler.is_running:
            session = profiler.stop()
            session.save(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    orderflow_main(["api"])


if __name__ == "__main__":
    main()
