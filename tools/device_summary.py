#!/usr/bin/env python3
"""Markdown tables from the results of one tools/device_check.sh run, for docs/benchmarks.md.

Reads the folder the script wrote ($OUT): bench.jsonl (every measurement), summary.json (each
stage's exit code), sanitizer.log (compute-sanitizer's error summaries) and env.txt, and prints:

  - the stages that failed or were skipped, and each memcheck summary;
  - the end-to-end training step, ours beside PyTorch under the same settings (classifiers,
    TF32, convolution rule: deterministic or cuDNN's first choice, heuristics or
    benchmark/autotuning), with the phase split where measured;
  - our convolution report (conv_summary) of each of our train-step lines;
  - the per-class kernel profile of one step of each side (train_step_profile lines);
  - the fused head, boosting-loss and OGM-score benchmarks with their references.

Measurements that did not validate are listed first and left out of the tables ("-", or
"(invalid)" in the loss table). Nothing is averaged across runs: a folder is one run.

  python3 tools/device_summary.py RESULTS_DIR
"""
import argparse
import collections
import json
import os
import re
import sys


def read_lines(path):
    out = []
    if not os.path.isfile(path):
        return out
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                print("device_summary: %s:%d: not JSON (%s); skipped" % (path, n, e), file=sys.stderr)
    return out


def fmt(v, digits=1):
    return "-" if v is None else ("%.*f" % (digits, v))


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else "%.2f" % (a / b)


def times(a, b):
    r = ratio(a, b)
    return r if r == "-" else r + "x"


def table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    print()


def stages(folder):
    path = os.path.join(folder, "summary.json")
    if not os.path.isfile(path):
        print("No summary.json: the script did not reach its end.\n")
        return
    with open(path, encoding="utf-8") as f:
        s = json.load(f)
    bad = [st for st in s.get("steps", []) if st.get("rc") != 0]
    print("GPU: %s, %s s in all, %d stages." % (s.get("gpu"), s.get("seconds"), len(s.get("steps", []))))
    if bad:
        for st in bad:
            what = "skipped" if st.get("skipped") else ("not built" if st.get("missing") else "rc %s" % st.get("rc"))
            print("- %s: %s" % (st.get("step"), what))
    else:
        print("Every stage gave rc 0.")
    print()


def memcheck(folder):
    path = os.path.join(folder, "sanitizer.log")
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    found = re.findall(r"ERROR SUMMARY: (\d+) errors?", text)
    skipped = re.findall(r"^(.*memcheck skipped)$", text, re.M)
    print("compute-sanitizer memcheck, in the script's order (kernels, ops, trainer): %s%s\n" % (
        ", ".join("%s errors" % n for n in found) or "no summary",
        "; " + "; ".join(skipped) if skipped else ""))


def cudnn_name(v):
    """'9.19.0' for 91900 (cuDNN 9 on: 10000 major + 100 minor + patch), '8.9.7' for 8907."""
    v = int(v)
    if v >= 90000:
        return "%d.%d.%d" % (v // 10000, v // 100 % 100, v % 100)
    return "%d.%d.%d" % (v // 1000, v % 1000 // 100, v % 100)


def step_setting(j):
    """(classifiers, tf32, deterministic rule, benchmark) of a train_step line."""
    c = j.get("classifiers", {})
    pytorch = j.get("framework") == "pytorch"
    # Lines from before the fields existed: ours was deterministic, PyTorch was not.
    det = j.get("cudnn_deterministic", not pytorch)
    return ("%s,%s" % (c.get("audio"), c.get("video")), bool(j.get("tf32")), bool(det),
            bool(j.get("cudnn_benchmark")), j.get("batch"))


def train_steps(lines):
    steps = [j for j in lines if j.get("bench") == "train_step" and j.get("device") == "cuda"]
    if not steps:
        return
    by = collections.defaultdict(dict)
    for j in steps:
        if "check" in j or j.get("dumped") or j.get("loaded"):
            continue  # the same-state check: a smaller batch, 3 steps
        if j.get("upload", "none") != "none":
            continue  # the batch uploaded at every step: the table after this one
        by[step_setting(j)][j.get("framework")] = j
    # One row per (batch, classifiers, math, ranking); columns per convolution rule and side.
    rows = []
    groups = sorted({(k[4] or 0, k[0], k[1], k[3]) for k in by})
    for batch, cls, tf32, bench in groups:
        def median(framework, det):
            j = by.get((cls, tf32, det, bench, batch), {}).get(framework)
            return j.get("median_ms") if j else None
        od, pd = median("mmboost", True), median("pytorch", True)
        of, pf = median("mmboost", False), median("pytorch", False)
        rows.append([batch, cls, "TF32" if tf32 else "FP32", "benchmark" if bench else "heuristics",
                     fmt(od), fmt(pd), ratio(od, pd), fmt(of), fmt(pf), ratio(of, pf), ratio(od, pf)])
    # Which cuDNN each side loaded (ours: from 2026-12-05 on; PyTorch: torch.backends.cudnn.version()).
    def versions(framework):
        return sorted({cudnn_name(j["cudnn"]) for j in steps
                       if j.get("framework") == framework and j.get("cudnn")})
    ours, theirs = versions("mmboost"), versions("pytorch")
    if ours or theirs:
        same = " (the same library)" if ours and ours == theirs else ""
        print("cuDNN loaded: mmboost %s, PyTorch %s%s.\n" % (
            ", ".join(ours) or "not recorded", ", ".join(theirs) or "not recorded", same))
    waits = sorted({j["train_step_host_waits"] for j in steps
                    if j.get("framework") == "mmboost" and "train_step_host_waits" in j})
    if waits:
        print("Waits for the GPU inside one of our training steps (train_step_host_waits): %s; "
              "PyTorch's step waits once, in loss.item().\n" % ", ".join(str(w) for w in waits))
    # Our step with the batch taken from host memory at every step, as the trainer does
    # (bench_train_step --upload), beside the same step with the batch left on the device.
    ups = [j for j in steps if j.get("framework") == "mmboost" and j.get("upload", "none") != "none"]
    if ups:
        urows = []
        for j in sorted(ups, key=lambda j: j["upload"]):
            base = by.get(step_setting(j), {}).get("mmboost")
            urows.append([j["upload"], fmt(j.get("median_ms")), fmt(base.get("median_ms")) if base else "",
                          fmt(j["median_ms"] - base["median_ms"]) if base else "",
                          j.get("upload_host_waits", ""), "yes" if j.get("upload_pinned") else "no"])
        print("Our step with the batch uploaded from host memory at every step, median ms (the "
              "batch on the device throughout: 'on device'):\n")
        table(["upload", "median", "on device", "difference", "waits of one upload", "page-locked"], urows)
    print("End-to-end training step, median ms. Convolution rule: deterministic algorithms only "
          "(our default), or cuDNN's first choice (PyTorch's default); ranking: cuDNN's heuristics, "
          "or its timing (benchmark). The last column compares the two defaults:\n")
    table(["batch", "classifiers", "math", "ranking", "mmboost det.", "PyTorch det.", "ratio",
           "mmboost first", "PyTorch first", "ratio", "mmboost det. / PyTorch first"], rows)
    # The phase split, where measured: one column per side and rule.
    for batch, cls, tf32, bench in groups:
        cols = []
        for framework in ("mmboost", "pytorch"):
            for det in (True, False):
                j = by.get((cls, tf32, det, bench, batch), {}).get(framework)
                if j and j.get("phases_ms"):
                    cols.append(("%s (%s)" % (framework, "det." if det else "first"), j["phases_ms"]))
        if not cols:
            continue
        print("Phases of the step, batch %s, classifiers %s, %s, %s (median ms of %s steps):\n" % (
            batch, cls, "TF32" if tf32 else "FP32", "benchmark" if bench else "heuristics",
            cols[0][1].get("steps")))
        table(["phase"] + [c[0] for c in cols],
              [[p] + [fmt(c[1].get(p)) for c in cols] for p in ("forward_loss", "backward", "optimizer")])
    checks = [j for j in steps if "check" in j]
    for j in checks:
        print("Same-state check (PyTorch line): %s\n" % json.dumps(j["check"]))


def conv_reports(lines):
    rows = []
    for j in lines:
        s = j.get("conv_summary")
        if j.get("bench") != "train_step" or not s:
            continue
        k = step_setting(j)
        rows.append([k[0], "deterministic" if k[2] else "cuDNN's first", "benchmark" if k[3] else "heuristics",
                     s.get("passes"), s.get("deterministic"), s.get("differ_from_cudnn_first"),
                     fmt(s.get("cudnn_ms_per_step"), 2), fmt(s.get("cudnn_first_ms_per_step"), 2)])
    if rows:
        print("Convolution algorithms of our step (conv_summary; times are cuDNN's own, per step, "
              "benchmark mode only):\n")
        table(["classifiers", "rule", "ranking", "passes", "deterministic", "not cuDNN's first",
               "cuDNN ms, in use", "cuDNN ms, its first"], rows)
    # Where the rule costs most, by cuDNN's timings (benchmark-mode lines of the default rule).
    for j in lines:
        if j.get("bench") != "train_step" or not j.get("cudnn_benchmark") or not j.get("cudnn_deterministic"):
            continue
        costs = []
        for c in j.get("conv_algorithms", []):
            if c.get("ms") is None or c.get("cudnn_first_ms") is None:
                continue
            extra = (c["ms"] - c["cudnn_first_ms"]) * c.get("calls_per_step", 0)
            if extra > 0:
                costs.append((extra, c))
        if not costs:
            continue
        costs.sort(key=lambda e: -e[0])
        k = step_setting(j)
        print("Passes where the determinism rule costs most, classifiers %s (cuDNN's timings, ms per "
              "step):\n" % k[0])
        table(["geometry", "pass", "in use", "cuDNN's first", "runs per step", "extra ms per step"],
              [[c["geometry"], c["pass"], "%s (%.3f)" % (c["algo"], c["ms"]),
                "%s (%.3f)" % (c["cudnn_first"], c["cudnn_first_ms"]), fmt(c.get("calls_per_step"), 0),
                "%.3f" % extra] for extra, c in costs[:8]])


def profiles(lines):
    prof = {j.get("impl"): j for j in lines if j.get("bench") == "train_step_profile"}
    if not prof:
        return
    classes = sorted({c for j in prof.values() for c in j.get("by_class", {})},
                     key=lambda c: -max(j.get("by_class", {}).get(c, {}).get("ms", 0) for j in prof.values()))
    sides = [s for s in ("mmboost", "pytorch") if s in prof]
    rows = []
    for c in classes:
        cells = []
        for s in sides:
            e = prof[s].get("by_class", {}).get(c)
            cells.append("%s (%d)" % (fmt(e["ms"], 2), e["kernels"]) if e else "-")
        rows.append([c] + cells)
    rows.append(["**all kernels of the step**"] + ["**%s**" % fmt(prof[s].get("step_ms"), 2) for s in sides])
    print("Kernel time of one step by class (Nsight Compute, ms (kernels)):\n")
    table(["kernel class"] + sides, rows)


def kernel_benches(lines):
    def index(bench, key):  # key -> version -> pass -> line
        d = collections.defaultdict(lambda: collections.defaultdict(dict))
        for j in lines:
            if j.get("bench") == bench:
                d[key(j)][j.get("version")][j.get("pass")] = j
        return d

    def ms(passes, *names, scale=1.0):
        """Sum of the named passes' times; None when one is missing or did not validate."""
        total = 0.0
        for n in names:
            e = (passes or {}).get(n)
            if not e or e.get("valid") is False:
                return None
            total += e["ms"]
        return total * scale

    fb = "forward_backward"
    fh = index("fused_hidden", lambda j: (j["B"], j["N"]))
    if fh:
        rows = []
        for (B, N) in sorted(fh):
            v = fh[(B, N)]
            f, u = ms(v.get("fused"), fb), ms(v.get("unfused_ops"), fb)
            c = ms(v.get("cublas_gemm"), "forward", "backward")
            ts, tp = ms(v.get("torch_stacked"), fb), ms(v.get("torch_per_classifier"), fb)
            best = min([t for t in (ts, tp) if t is not None], default=None)
            rows.append([B, N, fmt(f, 3), fmt(u, 3), fmt(c, 3), fmt(ts, 3), fmt(tp, 3),
                         times(u, f), times(best, f)])
        print("Fused multi-classifier head, forward + backward, ms:\n")
        table(["B", "N", "fused", "unfused engine ops", "cuBLAS floor", "PyTorch stacked",
               "PyTorch per classifier", "fused vs unfused", "fused vs best PyTorch"], rows)

    bl = index("boost_loss", lambda j: (j["B"], j["K"]))
    if bl:
        rows = []
        for (B, K) in sorted(bl):
            v = bl[(B, K)]

            def us_gbps(name):
                e = v.get(name, {}).get(fb)
                if not e:
                    return "-", "-"
                if e.get("valid") is False:
                    return "(invalid)", "-"
                return fmt(e["ms"] * 1e3, 1), "%.0f" % e["gbps"]

            f_us, f_gb = us_gbps("fused")
            o_us, o_gb = us_gbps("fused_online")
            w_us, w_gb = us_gbps("fused_warp_rows")
            _, c_gb = us_gbps("copy_d2d")
            rows.append([B, K, f_us, f_gb, o_us, o_gb, w_us, w_gb, c_gb,
                         fmt(ms(v.get("unfused_ops"), fb), 3), fmt(ms(v.get("torch_eager"), fb), 3)])
        print("Boosting loss, eqs (2)-(5), forward + backward (fused: version 3 from "
              "2026-12-05 on; in earlier runs, the two-pass kernel of the day):\n")
        table(["B", "K", "fused us", "fused GB/s", "two-pass us", "two-pass GB/s",
               "warp per row us", "warp per row GB/s", "copy GB/s", "unfused engine ops ms",
               "PyTorch eager ms"], rows)

    og = index("ogm_score_sum", lambda j: j["R"])
    if og:
        rows = [[R] + [fmt(ms(og[R].get(v), None, scale=1e3), 1)
                       for v in ("fused_two_pass", "unfused_ops", "torch_sum")] for R in sorted(og)]
        print("OGM score sum, us:\n")
        table(["R", "two-pass kernel", "engine sum()", "PyTorch sum()"], rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", help="the $OUT of one tools/device_check.sh run")
    args = ap.parse_args()
    bench = os.path.join(args.folder, "bench.jsonl")
    if not os.path.isfile(bench):
        ap.error("%s has no bench.jsonl" % args.folder)
    lines = read_lines(bench)
    invalid = [j for j in lines if j.get("valid") is False]
    stages(args.folder)
    memcheck(args.folder)
    if invalid:
        print("%d measurements did not validate: %s\n" % (
            len(invalid), ", ".join("%s %s" % (j.get("bench"), j.get("version")) for j in invalid[:10])))
    train_steps(lines)
    conv_reports(lines)
    profiles(lines)
    kernel_benches(lines)


if __name__ == "__main__":
    main()
