"""PyTorch peer of benchmarks/bench_cnn_step.cpp: the same small CNN and training step on the CPU.

  4 x [Conv2d 3x3 stride 2 pad 1 (no bias) -> BatchNorm2d -> ReLU], channels 1->16->32->64->128,
  input (64,1,129,63) -> adaptive avg pool 1x1 -> flatten -> Linear(128->10) -> cross-entropy
  -> backward -> SGD step (lr 0.01, no momentum).
Prints one JSON line with the same fields: the median over 20 steps after 3 warm-up steps.

  /usr/bin/python3 benchmarks/pytorch/cnn_step.py --threads N   (Debian python3-torch)
"""
import argparse
import json

import torch
import torch.nn as nn

from common import add_threads_option, cpu_model, setup_torch, time_ms


def small_cnn():
    layers = []
    ch = [1, 16, 32, 64, 128]
    for i in range(4):
        layers += [nn.Conv2d(ch[i], ch[i + 1], 3, stride=2, padding=1, bias=False),
                   nn.BatchNorm2d(ch[i + 1]), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(128, 10)]
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser()
    add_threads_option(ap)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    setup_torch(args.threads)
    B, H, W, K = 64, 129, 63, 10
    model = small_cnn().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(B, 1, H, W)
    y = torch.randint(0, K, (B,))
    last_loss = [0.0]

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        last_loss[0] = loss.item()

    t = time_ms(step, 3, args.steps)
    print(json.dumps({
        "bench": "cnn_step", "impl": "pytorch " + torch.__version__, "cpu": cpu_model(),
        "threads": torch.get_num_threads(), "input": [B, 1, H, W], "channels": [1, 16, 32, 64, 128],
        "classes": K, "median_ms": t.median_ms, "min_ms": t.min_ms,
        "mean_ms": t.mean_ms, "cpu_median_ms": t.cpu_median_ms,
        "repeats": args.steps,
        "ms_per_step": t.median_ms, "final_loss": last_loss[0],
        "mkldnn": torch.backends.mkldnn.is_available(),
    }))


if __name__ == "__main__":
    main()
