"""Shared by the PyTorch peers of the CPU benchmarks (cnn_step.py, conv2d.py): the --threads
option, torch set-up, the CPU's name and the timing loop, so that both measure the same way as
their C++ twins (benchmarks/bench_common.h)."""
import collections
import os
import statistics
import time

import torch

Timing = collections.namedtuple("Timing", "median_ms min_ms mean_ms cpu_median_ms")


def add_threads_option(ap):
    """--threads N (default: MMBOOST_THREADS, else 0 = torch's default)."""
    ap.add_argument("--threads", type=int, default=int(os.environ.get("MMBOOST_THREADS", "0")))


def setup_torch(threads):
    """Thread count (when > 0) and seed 0, before any tensor is made."""
    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(0)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def time_ms(f, warmup, repeats):
    """Wall-clock ms of f() over `repeats` calls after `warmup` untimed ones (median, min, mean),
    and the median process CPU ms (all threads)."""
    for _ in range(warmup):
        f()
    t, c = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        f()
        t.append((time.perf_counter() - t0) * 1e3)
        c.append((time.process_time() - c0) * 1e3)
    return Timing(statistics.median(t), min(t), statistics.fmean(t), statistics.median(c))
