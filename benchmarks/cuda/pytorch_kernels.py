#!/usr/bin/env python3
"""PyTorch eager peer of the CUDA kernel benchmarks in this folder.

The same computations, sizes and timing method as bench_fused_hidden.cu, bench_boost_loss.cu
and bench_ogm_score_sum.cu, in PyTorch eager mode, FP32 with TF32 off (as the mmboost kernels
run by default). Each measurement prints one JSON line with "framework": "pytorch".

Timing: per repetition, overwrite a buffer of twice the L2 size, then time one call with CUDA
events; the mean of MMBOOST_BENCH_REPS (default 20) repetitions after 3 warm-ups.

    python3 benchmarks/cuda/pytorch_kernels.py > pytorch.jsonl
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

REPS = int(os.environ.get("MMBOOST_BENCH_REPS", "20")) or 20


def main():
    if not torch.cuda.is_available():
        print("pytorch_kernels.py: no CUDA device, nothing to run", file=sys.stderr)
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    l2 = getattr(props, "L2_cache_size", 0) or getattr(props, "l2_cache_size", 0) or (64 << 20)
    flush_buf = torch.empty(2 * l2 // 4, dtype=torch.float32, device=dev)
    name = props.name

    def time_ms(fn):
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        total = 0.0
        for _ in range(REPS):
            flush_buf.zero_()
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            total += start.elapsed_time(stop)
        return total / REPS

    def emit(**fields):
        fields["framework"] = "pytorch"
        fields["torch"] = torch.__version__
        fields["device"] = name
        print(json.dumps(fields), flush=True)

    gen = torch.Generator(device=dev).manual_seed(0)

    def randn(*shape, scale=1.0):
        return torch.randn(*shape, generator=gen, device=dev) * scale

    # ---- fused hidden layer -------------------------------------------------------------------
    D, H = 512, 256
    for B in (64, 256, 1024, 4096):
        for N in (1, 2, 4, 8, 16):
            NH = N * H
            x = randn(B, D)
            w1 = randn(NH, D, scale=0.044)
            b1 = randn(NH, scale=0.1)
            coef = randn(N, scale=0.3)
            g_hsum = randn(B, H)
            g_hnew = randn(B, H)
            fwd_flops = 2.0 * B * D * NH
            bwd_flops = 4.0 * B * D * NH

            def stacked(x, w1, b1):
                # One GEMM over the stacked first layers, then the weighted sum.
                act = torch.relu(torch.addmm(b1, x, w1.t())).view(B, N, H)
                if N > 1:
                    hsum = (act[:, : N - 1] * coef[: N - 1, None]).sum(1)
                else:
                    hsum = torch.zeros(B, H, device=dev)
                return hsum, act[:, N - 1]

            def per_classifier(x, ws, bs):
                # The release's structure: one Linear + ReLU per classifier.
                hsum = torch.zeros(B, H, device=dev)
                for j in range(N - 1):
                    hsum = hsum + coef[j] * torch.relu(F.linear(x, ws[j], bs[j]))
                return hsum, torch.relu(F.linear(x, ws[N - 1], bs[N - 1]))

            ws = [w1[j * H:(j + 1) * H].contiguous() for j in range(N)]
            bs = [b1[j * H:(j + 1) * H].contiguous() for j in range(N)]
            with torch.no_grad():
                ms = time_ms(lambda: stacked(x, w1, b1))
            emit(bench="fused_hidden", version="torch_stacked", **{"pass": "forward"}, B=B, D=D,
                 H=H, N=N, ms=ms, tflops=fwd_flops / (ms * 1e-3) / 1e12)
            with torch.no_grad():
                ms = time_ms(lambda: per_classifier(x, ws, bs))
            emit(bench="fused_hidden", version="torch_per_classifier", **{"pass": "forward"}, B=B,
                 D=D, H=H, N=N, ms=ms, tflops=fwd_flops / (ms * 1e-3) / 1e12)

            xp = x.clone().requires_grad_(True)
            w1p = w1.clone().requires_grad_(True)
            b1p = b1.clone().requires_grad_(True)

            def stacked_fb():
                xp.grad = w1p.grad = b1p.grad = None
                hsum, hnew = stacked(xp, w1p, b1p)
                ((hsum * g_hsum).sum() + (hnew * g_hnew).sum()).backward()

            ms = time_ms(stacked_fb)
            emit(bench="fused_hidden", version="torch_stacked", **{"pass": "forward_backward"},
                 B=B, D=D, H=H, N=N, ms=ms,
                 tflops=(fwd_flops + bwd_flops) / (ms * 1e-3) / 1e12)
            wsp = [w.clone().requires_grad_(True) for w in ws]
            bsp = [b.clone().requires_grad_(True) for b in bs]

            def per_classifier_fb():
                xp.grad = None
                for t in wsp + bsp:
                    t.grad = None
                hsum, hnew = per_classifier(xp, wsp, bsp)
                ((hsum * g_hsum).sum() + (hnew * g_hnew).sum()).backward()

            ms = time_ms(per_classifier_fb)
            emit(bench="fused_hidden", version="torch_per_classifier",
                 **{"pass": "forward_backward"}, B=B, D=D, H=H, N=N, ms=ms,
                 tflops=(fwd_flops + bwd_flops) / (ms * 1e-3) / 1e12)
            del x, w1, b1, xp, w1p, b1p, ws, bs, wsp, bsp

    # ---- boosting loss, eqs (2)-(5) -----------------------------------------------------------
    lam = 0.5
    for B in (64, 256, 1024, 4096, 65536):  # 65536: as bench_boost_loss.cu, for bandwidth
        for K in (6, 31, 309):
            sp = randn(B, K, scale=3.0).requires_grad_(True)
            zn = randn(B, K, scale=3.0).requires_grad_(True)
            y = torch.randint(0, K, (B,), generator=gen, device=dev)
            nbytes = 4.0 * B * K * 4 + B * (8.0 + 12.0 + 4.0)
            out = {}

            def loss_fb():
                sp.grad = zn.grad = None
                oh = F.one_hot(y, K).float()
                q = torch.softmax(sp.detach(), -1)
                yhat = oh - lam * oh * q  # residual labels
                sn = sp + zn
                eps = -(yhat * torch.log_softmax(zn, -1)).sum(-1).mean()
                loss = eps + F.cross_entropy(sn, y) + F.cross_entropy(sp, y)
                loss.backward()
                with torch.no_grad():
                    out["p_true"] = torch.softmax(sn, -1).gather(1, y[:, None])

            ms = time_ms(loss_fb)
            emit(bench="boost_loss", version="torch_eager", **{"pass": "forward_backward"}, B=B,
                 K=K, ms=ms, gbps=nbytes / (ms * 1e-3) / 1e9)

    # ---- OGM score sum ------------------------------------------------------------------------
    for R in (64, 256, 1024, 4096, 6698, 1 << 20):
        v = torch.rand(R, generator=gen, device=dev)
        ms = time_ms(lambda: v.sum())
        emit(bench="ogm_score_sum", version="torch_sum", R=R, ms=ms,
             gbps=4.0 * R / (ms * 1e-3) / 1e9)
    return 0


if __name__ == "__main__":
    sys.exit(main())
