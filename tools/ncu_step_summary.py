#!/usr/bin/env python3
"""Summarise an Nsight Compute CSV of one training step into one JSON line.

tools/device_check.sh profiles one step of bench_train_step and of its PyTorch peer
(benchmarks/pytorch/train_step_aug.py) with

  ncu --csv --metrics gpu__time_duration.sum --log-file FILE PROGRAM --steps 1 --warmup 0 ...

and this script reads FILE: every kernel's GPU time, grouped into classes by name (convolution,
batch norm, GEMM, pooling, elementwise, reductions and softmax, optimizer, random
initialisation), with the kernels that took longest. Random initialisation (weights and the
synthetic batch) is reported but left out of "step_ms". Under ncu each kernel runs alone with
cold caches, so step_ms is the step's kernel time without launch gaps or overlap, comparable
between the two programs rather than with their timed medians.

  python3 tools/ncu_step_summary.py --impl mmboost FILE
"""
import argparse
import collections
import csv
import json
import re
import sys

# First match wins; names are matched in lower case.
CLASSES = [
    ("random_init", r"random|normal_|uniform|philox|distribution"),
    ("batch_norm", r"batch_?norm|bn_|_bn"),
    ("convolution", r"conv|fprop|dgrad|wgrad|implicit|winograd|fft|cudnn"),
    ("gemm", r"gemm|cublas|cutlass|matmul|xmma|sm90_|sm80_"),
    ("pooling", r"pool"),
    ("optimizer", r"sgd|momentum|multi_tensor|foreach|optimizer"),
    ("softmax_loss", r"softmax|cross_entropy|nll|boost_loss|log_sum|fused_hidden"),
    ("reduction", r"reduce|sum_|_sum|max_rows|mean"),
    ("elementwise", r"elementwise|vectorized|unrolled|unary|binary|axpy|relu|add|mul|fill|copy|"
                    r"scale|cast|where|threshold"),
]
UNIT_MS = {"nsecond": 1e-6, "ns": 1e-6, "usecond": 1e-3, "us": 1e-3, "msecond": 1.0, "ms": 1.0,
           "second": 1e3, "s": 1e3}


def kernel_class(name):
    low = name.lower()
    for cls, pattern in CLASSES:
        if re.search(pattern, low):
            return cls
    return "other"


def read_rows(path):
    with open(path, newline="", errors="replace") as f:
        lines = [line for line in f if line.startswith('"')]
    if not lines:
        raise SystemExit(f"{path}: no CSV rows from ncu (did it profile any kernel?)")
    reader = csv.DictReader(lines)
    name_key = next((k for k in reader.fieldnames if k in ("Kernel Name", "Function Name")), None)
    if name_key is None or "Metric Value" not in reader.fieldnames:
        raise SystemExit(f"{path}: unexpected ncu CSV columns {reader.fieldnames}")
    for row in reader:
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        unit = UNIT_MS.get(row.get("Metric Unit", "").strip())
        if unit is None:
            raise SystemExit(f"{path}: unknown time unit '{row.get('Metric Unit')}'")
        yield row[name_key], float(row["Metric Value"].replace(",", "")) * unit


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--impl", required=True, help="mmboost or pytorch")
    ap.add_argument("--top", type=int, default=25, help="longest kernels to list")
    ap.add_argument("csv_file")
    args = ap.parse_args()

    by_name = collections.defaultdict(lambda: [0, 0.0])  # calls, ms
    for name, ms in read_rows(args.csv_file):
        n = by_name[name]
        n[0] += 1
        n[1] += ms
    cls = {name: kernel_class(name) for name in by_name}
    by_class = collections.defaultdict(lambda: [0, 0.0])
    for name, (calls, ms) in by_name.items():
        c = by_class[cls[name]]
        c[0] += calls
        c[1] += ms
    step = {k: v for k, v in by_class.items() if k != "random_init"}
    line = {
        "bench": "train_step_profile",
        "impl": args.impl,
        "tool": "ncu gpu__time_duration.sum",
        "kernels": sum(v[0] for v in step.values()),
        "step_ms": round(sum(v[1] for v in step.values()), 4),
        "by_class": {k: {"kernels": v[0], "ms": round(v[1], 4)}
                     for k, v in sorted(by_class.items(), key=lambda kv: -kv[1][1])},
        "top": [{"name": k[:160], "class": cls[k], "calls": v[0], "ms": round(v[1], 4)}
                for k, v in sorted(by_name.items(), key=lambda kv: -kv[1][1])[:args.top]],
    }
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
