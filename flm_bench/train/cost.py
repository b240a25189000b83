"""Cost accounting: wall time and peak memory of a phase (pretrain, adapt, eval)."""

from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import dataclass
from types import TracebackType

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:  # not Linux: fall back to the process-wide peak
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class Meter:
    """Context manager measuring seconds and peak memory of the code it wraps.

    On CUDA the peak is ``torch.cuda.max_memory_allocated``; on CPU it is the peak resident
    set size of the process sampled every 20 ms (so it includes the process baseline).
    """

    device: str = "cpu"
    seconds: float = 0.0
    peak_bytes: int = 0
    memory_kind: str = ""

    def __enter__(self) -> Meter:
        self._start = time.perf_counter()
        self._stop = threading.Event()
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)
            self.memory_kind = "cuda_max_allocated"
        else:
            self.memory_kind = "process_peak_rss"
            self.peak_bytes = _rss_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_bytes = max(self.peak_bytes, _rss_bytes())

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.seconds = time.perf_counter() - self._start
        self._stop.set()
        if self.device.startswith("cuda"):
            import torch

            self.peak_bytes = int(torch.cuda.max_memory_allocated(self.device))
        else:
            self._thread.join()
            self.peak_bytes = max(self.peak_bytes, _rss_bytes())

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20
