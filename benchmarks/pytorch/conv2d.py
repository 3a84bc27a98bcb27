"""PyTorch peer of benchmarks/bench_conv2d.cpp: conv2d forward and backward (gx unless the layer
is a network's first, and gw; no bias) for the same layers and batches, on the CPU. Prints one
JSON line per (layer, batch) with the same fields.

  /usr/bin/python3 benchmarks/pytorch/conv2d.py --threads N [--quick]   (Debian python3-torch)
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F

from common import add_threads_option, cpu_model, setup_torch, time_ms

LAYERS = [  # name, C, O, H, W, k, stride, padding, input_grad
    ("resnet18.stem", 3, 64, 112, 112, 7, 2, 3, False),
    ("resnet18.layer1", 64, 64, 56, 56, 3, 1, 1, True),
    ("resnet18.layer2.down", 64, 128, 56, 56, 3, 2, 1, True),
    ("resnet18.layer2.shortcut", 64, 128, 56, 56, 1, 2, 0, True),
    ("resnet18.layer3", 256, 256, 14, 14, 3, 1, 1, True),
    ("resnet18.layer4", 512, 512, 7, 7, 3, 1, 1, True),
    ("resnet18.pointwise", 256, 512, 7, 7, 1, 1, 0, True),
    ("cnn.block1", 1, 16, 129, 63, 3, 2, 1, False),
    ("cnn.block2", 16, 32, 65, 32, 3, 2, 1, True),
    ("cnn.block3", 32, 64, 33, 16, 3, 2, 1, True),
    ("cnn.block4", 64, 128, 17, 8, 3, 2, 1, True),
]


def run(layer, B, threads):
    name, C, O, H, W, k, s, p, input_grad = layer
    Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    x = torch.randn(B, C, H, W, requires_grad=input_grad)
    w = (torch.randn(O, C, k, k) * 0.05).requires_grad_(True)
    gy = torch.randn(B, O, Ho, Wo)

    def fwd():
        with torch.no_grad():
            F.conv2d(x, w, None, s, p)

    y = None

    def bwd():
        # autograd.grad runs only the convolution's backward (the forward is outside the timing)
        torch.autograd.grad(y, [x, w] if input_grad else [w], gy, retain_graph=True)

    t0 = time.perf_counter()
    fwd()
    probe = (time.perf_counter() - t0) * 1e3
    repeats = min(50, max(3, int(2000.0 / (3.0 * max(probe, 1e-3)))))
    f = time_ms(fwd, 1, repeats)
    tf, tf_min, tf_cpu = f.median_ms, f.min_ms, f.cpu_median_ms
    y = F.conv2d(x, w, None, s, p)
    b = time_ms(bwd, 1, repeats)
    tb, tb_min, tb_cpu = b.median_ms, b.min_ms, b.cpu_median_ms
    fwd_flops = 2.0 * B * O * Ho * Wo * C * k * k
    bwd_flops = fwd_flops * (2.0 if input_grad else 1.0)
    print(json.dumps({
        "bench": "conv2d", "impl": "pytorch " + torch.__version__, "cpu": cpu_model(),
        "threads": threads, "layer": name, "x": [B, C, H, W], "w": [O, C, k, k], "stride": s,
        "padding": p, "input_grad": input_grad, "fwd_median_ms": tf, "bwd_median_ms": tb,
        "fwd_bwd_ms": tf + tb, "fwd_gflops": fwd_flops / (tf * 1e6),
        "bwd_gflops": bwd_flops / (tb * 1e6), "fwd_min_ms": tf_min, "bwd_min_ms": tb_min,
        "fwd_cpu_ms": tf_cpu, "bwd_cpu_ms": tb_cpu,
        "repeats": repeats}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    add_threads_option(ap)
    ap.add_argument("--quick", action="store_true", help="batch 16 only")
    ap.add_argument("--only", default="", help="run only layers whose name contains this")
    args = ap.parse_args()
    setup_torch(args.threads)
    for B in ([16] if args.quick else [16, 64]):
        for layer in LAYERS:
            if args.only in layer[0]:
                run(layer, B, torch.get_num_threads())


if __name__ == "__main__":
    main()
