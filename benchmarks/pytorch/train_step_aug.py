"""PyTorch peer of benchmarks/bench_train_step.cpp: one end-to-end training step of the CREMA-D
ResNet18 AUG configuration (tools/configs/cremad_aug.json) in PyTorch eager, written to match
mmboost's model and step exactly (no torchvision):

  encoders   ResNet18 per modality: conv7x7/2 pad 3 (no bias) -> BN -> ReLU -> maxpool 3/2 pad 1
             -> 4 stages x 2 BasicBlocks (widths 64,128,256,512; strides 1,2,2,2; 1x1 stride
             projection + BN where the shape changes) -> global average pool -> (B,512).
             Audio: 1 input channel over the spectrogram (B,1,257,188); video: frames (B,T,C,H,W)
             = (B,1,3,224,224) viewed as (B*T,C,H,W), features averaged over T.
  classifiers n per modality (--classifiers A,V), each Linear(512->256) + ReLU, all feeding ONE
             head Linear(256->K) shared by every classifier of every modality.
  loss       per modality with logits z_j = head(psi_j(u)) (coefficients 1: omega starts at 1):
             n == 1: CE(z_1, y);  n >= 2: S_prev = z_1 + ... + z_{n-1}, S_n = S_prev + z_n,
             y_hat = y - lambda * y * softmax(S_prev).detach() (lambda 0.2), batch mean of
             -(y_hat * log_softmax(z_n)).sum(1) + CE(S_n, y) + CE(S_prev, y)   (eqs (2)-(6));
             the OGM score's summands softmax(S_n)[y] accumulated without grad (on the device).
  update     "joint": modality losses summed, one backward, one SGD step (lr 0.01, momentum 0.9,
             weight decay 1e-4 on every parameter).
Inputs are synthetic (normal values, labels uniform in [0,K)); one batch is moved to the device
once, then --warmup untimed and --steps timed steps run, synchronised around the clock. Prints
one JSON line with the fields of the C++ one (framework "pytorch").

  python3 benchmarks/pytorch/train_step_aug.py [--device cpu|cuda] [--batch 64] [--steps 20]
      [--warmup 3] [--classifiers 1,1] [--classes 6] [--tf32] [--cudnn-benchmark]
      [--cudnn-deterministic] [--threads N]
      [--audio-shape 257,188] [--video-shape 1,3,224,224] [--seed 0] [--load DIR] [--phases N]

TF32 is off unless --tf32 (matmul and cuDNN), as in mmboost without MMBOOST_TF32=1.
--cudnn-deterministic sets torch.backends.cudnn.deterministic: only deterministic cuDNN
convolution algorithms, the rule mmboost follows by default (PyTorch's default, as mmboost's
MMBOOST_CUDNN_DETERMINISTIC=0, takes cuDNN's first choice, atomics included).
--phases N: after the timed steps, N more steps timed by phase with a synchronisation between
phases ("forward_loss", "backward", "optimizer" medians in "phases_ms"), as bench_train_step
--phases N splits ours (the OGM sums left out on both sides).
--load DIR: start from the state bench_train_step --dump DIR wrote (the same initial weights,
batch, classes and classifiers; --batch, --classes, --classifiers and the shapes are then taken
from DIR) and compare the losses with DIR/mmboost.json when present ("check" in the JSON line).
The first step's loss agrees to FP32 rounding (~1e-7 relative: same forward and loss); later
steps drift apart by rounding amplified through the updates (up to ~1e-3 relative by step 3 at
batch 2-8 on the CPU, where a float64 run of this script sided with mmboost).
"""
import argparse
import json
import os
import statistics
import struct
import sys
import time
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import add_threads_option, cpu_model, setup_torch, time_ms

MODALITIES = ("audio", "video")


# ---- model --------------------------------------------------------------------------------------

def conv(cin, cout, k, stride, pad):
    c = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=False)
    nn.init.kaiming_normal_(c.weight, mode="fan_out", nonlinearity="relu")
    return c


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv(cin, cout, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = conv(cout, cout, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down_conv = self.down_bn = None
        if stride != 1 or cin != cout:
            self.down_conv = conv(cin, cout, 1, stride, 0)
            self.down_bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        skip = self.down_bn(self.down_conv(x)) if self.down_conv is not None else x
        return F.relu(y + skip)


class ResNet18(nn.Module):
    """(B,C,H,W) or frames (B,T,C,H,W) -> (B, 8*width); names as mmboost's (models/encoders.cpp)."""

    def __init__(self, in_ch, width=64):
        super().__init__()
        self.width = width
        self.conv1 = conv(in_ch, width, 7, 2, 3)
        self.bn1 = nn.BatchNorm2d(width)
        blocks, c = [], width
        for s, w in enumerate((width, 2 * width, 4 * width, 8 * width)):
            blocks += [BasicBlock(c, w, 1 if s == 0 else 2), BasicBlock(w, w, 1)]
            c = w
        self.layers = nn.Sequential(*blocks)

    def forward(self, x):
        B, T = x.shape[0], 1
        if x.dim() == 5:  # (B,T,C,H,W) -> (B*T,C,H,W)
            T = x.shape[1]
            x = x.reshape(B * T, *x.shape[2:])
        y = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        y = F.adaptive_avg_pool2d(self.layers(y), 1).flatten(1)  # (B*T, 8w)
        return y if T == 1 else y.reshape(B, T, -1).mean(1)


def classifier(d, hidden):
    """ConfigurableClassifier: Linear(d->hidden) + ReLU, Xavier-normal weight, zero bias."""
    lin = nn.Linear(d, hidden)
    nn.init.xavier_normal_(lin.weight)
    nn.init.zeros_(lin.bias)
    return nn.Sequential(lin, nn.ReLU())


class Net(nn.Module):
    """encoders.<m>, classifiers.<m>.<j>, head: the parameter names of mmboost's BoostMethod."""

    def __init__(self, in_channels, counts, classes, hidden=256):
        super().__init__()
        self.encoders = nn.ModuleDict({m: ResNet18(c) for m, c in zip(MODALITIES, in_channels)})
        d = 8 * 64
        self.classifiers = nn.ModuleDict(
            {m: nn.ModuleList([classifier(d, hidden) for _ in range(n)]) for m, n in zip(MODALITIES, counts)})
        self.head = nn.Linear(hidden, classes)


def modality_loss(net, m, x, y, lam, ogm):
    u = net.encoders[m](x)
    zs = [net.head(c(u)) for c in net.classifiers[m]]  # coefficients 1 (omega starts at 1)
    z_new = zs[-1]
    if len(zs) == 1:  # no previous classifiers: plain CE
        s_n = z_new
        loss = F.cross_entropy(z_new, y)
    else:
        s_prev = zs[0]
        for z in zs[1:-1]:
            s_prev = s_prev + z
        s_n = s_prev + z_new
        with torch.no_grad():
            onehot = F.one_hot(y, z_new.shape[1]).to(z_new.dtype)
            y_hat = onehot - lam * onehot * F.softmax(s_prev, 1)  # eq (2), rows need not sum to 1
        eps = -(y_hat * F.log_softmax(z_new, 1)).sum(1).mean()  # (2)
        loss = eps + F.cross_entropy(s_n, y) + F.cross_entropy(s_prev, y)  # (5), (6)
    if ogm is not None:
        with torch.no_grad():  # the OGM score's summands, kept on the device
            ogm[m] += F.softmax(s_n, 1).gather(1, y[:, None]).sum()
    return loss


# ---- mmboost's state (bench_train_step --dump) ---------------------------------------------------

def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {}) or {}
    dtypes = {"F32": torch.float32, "I64": torch.int64}
    out = {}
    for name, e in header.items():
        b, en = e["data_offsets"]
        buf = bytearray(data[8 + n + b:8 + n + en])
        t = torch.frombuffer(buf, dtype=dtypes[e["dtype"]]) if buf else torch.empty(0, dtype=dtypes[e["dtype"]])
        out[name] = t.reshape(e["shape"]).clone()
    mm = json.loads(meta["mmboost"]) if "mmboost" in meta else {}
    return out, mm


def load_state(net, tensors):
    state = {k[len("net."):]: v for k, v in tensors.items() if k.startswith("net.")}
    res = net.load_state_dict(state, strict=False)
    missing = [k for k in res.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or res.unexpected_keys:
        sys.exit("train_step_aug.py: --load: the state does not match this model: missing %s, unexpected %s"
                 % (missing[:5], res.unexpected_keys[:5]))


def set_tf32(on):
    """TF32 for FP32 matmuls and convolutions: the fp32_precision settings where this torch has
    them (2.9 and later, which warn about and refuse to mix with the old flags), else allow_tf32."""
    matmul = torch.backends.cuda.matmul
    try:  # older torch raises AssertionError, not AttributeError, for unknown matmul attributes
        new_api = matmul.fp32_precision is not None and torch.backends.cudnn.conv.fp32_precision is not None
    except (AttributeError, AssertionError):
        new_api = False
    if new_api:
        matmul.fp32_precision = "tf32" if on else "ieee"
        torch.backends.cudnn.conv.fp32_precision = "tf32" if on else "ieee"
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on


# ---- main -----------------------------------------------------------------------------------------

def int_list(text, n, name):
    try:
        v = [int(s) for s in text.split(",")]
    except ValueError:
        v = []
    if len(v) != n or min(v) < 1:
        raise argparse.ArgumentTypeError("%s: expected %d positive integers separated by commas, got %r"
                                         % (name, n, text))
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_threads_option(ap)
    ap.add_argument("--device", choices=("cpu", "cuda"), default=None,
                    help="default cuda when available, else cpu")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--classifiers", type=lambda s: int_list(s, 2, "--classifiers"), default=[1, 1],
                    help="classifiers of audio and video, A,V (default 1,1)")
    ap.add_argument("--classes", type=int, default=6)
    ap.add_argument("--audio-shape", type=lambda s: int_list(s, 2, "--audio-shape"), default=[257, 188],
                    help="F,S of the spectrogram (default 257,188)")
    ap.add_argument("--video-shape", type=lambda s: int_list(s, 4, "--video-shape"), default=[1, 3, 224, 224],
                    help="T,C,H,W of the frames (default 1,3,224,224)")
    ap.add_argument("--tf32", action="store_true", help="TF32 for matmul and cuDNN (default off)")
    ap.add_argument("--cudnn-benchmark", action="store_true", help="torch.backends.cudnn.benchmark")
    ap.add_argument("--cudnn-deterministic", action="store_true",
                    help="torch.backends.cudnn.deterministic (deterministic convolution algorithms only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--load", metavar="DIR", help="start from bench_train_step --dump DIR's state")
    ap.add_argument("--phases", type=int, default=0, metavar="N",
                    help="N more steps timed by phase (forward+loss, backward, optimizer)")
    args = ap.parse_args()
    for name in ("batch", "steps", "classes"):
        if getattr(args, name) < (2 if name == "classes" else 1):
            ap.error("--%s must be >= %d" % (name, 2 if name == "classes" else 1))
    if args.warmup < 0:
        ap.error("--warmup must be >= 0")
    if args.phases < 0:
        ap.error("--phases must be >= 0")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: torch sees no CUDA device")

    setup_torch(args.threads)
    torch.manual_seed(args.seed)
    if device == "cuda":
        set_tf32(args.tf32)
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
        torch.backends.cudnn.deterministic = args.cudnn_deterministic
    lam = 0.2

    ref = None
    if args.load:
        if not os.path.isfile(os.path.join(args.load, "state.safetensors")):
            ap.error("--load: %s has no state.safetensors (write it with bench_train_step --dump DIR)"
                     % args.load)
        tensors, meta = read_safetensors(os.path.join(args.load, "state.safetensors"))
        audio, video, labels = tensors["batch.audio"], tensors["batch.video"], tensors["batch.labels"]
        counts = [int(c) for c in meta["classifiers"]]
        K = int(meta["classes"])
        lam = float(meta.get("lambda", lam))
        ref_path = os.path.join(args.load, "mmboost.json")
        if os.path.exists(ref_path):
            with open(ref_path) as f:
                ref = json.loads(f.readline())
    else:
        counts, K = args.classifiers, args.classes
        B = args.batch
        audio = torch.randn(B, 1, *args.audio_shape)
        video = torch.randn(B, *args.video_shape)
        labels = torch.randint(0, K, (B,))
    B = labels.shape[0]
    net = Net((audio.shape[1], video.shape[2]), counts, K)
    if args.load:
        load_state(net, tensors)
    net = net.to(device).train()
    params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = {"audio": audio.to(device), "video": video.to(device)}
    y = labels.to(device)
    ogm = {m: torch.zeros((), device=device) for m in MODALITIES}
    losses = []

    def forward_loss(scores):
        """zero_grad, then the modality losses summed (joint update)."""
        opt.zero_grad(set_to_none=True)
        total = None
        for m in MODALITIES:
            lm = modality_loss(net, m, x[m], y, lam, scores)
            total = lm if total is None else total + lm
        return total

    def step():
        total = forward_loss(ogm)
        total.backward()
        opt.step()
        losses.append(total.item())
        if device == "cuda":
            torch.cuda.synchronize()

    if device == "cuda":
        torch.cuda.synchronize()
    t = time_ms(step, args.warmup, args.steps)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    phases = None
    if args.phases > 0:
        fwd, bwd, upd = [], [], []
        for _ in range(args.phases):
            sync()
            t0 = time.perf_counter()
            total = forward_loss(None)
            sync()
            t1 = time.perf_counter()
            total.backward()
            sync()
            t2 = time.perf_counter()
            opt.step()
            sync()
            t3 = time.perf_counter()
            fwd.append((t1 - t0) * 1e3)
            bwd.append((t2 - t1) * 1e3)
            upd.append((t3 - t2) * 1e3)
        phases = {"forward_loss": statistics.median(fwd), "backward": statistics.median(bwd),
                  "optimizer": statistics.median(upd), "steps": args.phases}

    line = {
        "bench": "train_step", "impl": "pytorch " + torch.__version__, "cpu": cpu_model(),
        "threads": torch.get_num_threads(), "framework": "pytorch", "torch": torch.__version__,
        "device": device,
    }
    if device == "cuda":
        line["gpu"] = torch.cuda.get_device_name()
        line["cudnn"] = torch.backends.cudnn.version()
    line.update({
        "config": "cremad_aug", "method": "boost", "update": "joint", "batch": B, "classes": K,
        "classifiers": {"audio": counts[0], "video": counts[1]},
        "inputs": {"audio": list(audio.shape), "video": list(video.shape)},
        "params": params, "tf32": bool(args.tf32 and device == "cuda"),
        "cudnn_benchmark": bool(args.cudnn_benchmark and device == "cuda"),
        "cudnn_deterministic": bool(args.cudnn_deterministic and device == "cuda"), "fused": False,
        "warmup": args.warmup, "median_ms": t.median_ms, "min_ms": t.min_ms, "mean_ms": t.mean_ms,
        "cpu_median_ms": t.cpu_median_ms, "repeats": args.steps,
        "samples_per_s": B * 1e3 / t.median_ms if t.median_ms > 0 else 0.0,
        "first_loss": losses[0], "last_loss": losses[-1], "losses": losses,
    })
    if phases is not None:
        line["phases_ms"] = phases
    if args.load:
        line["loaded"] = args.load
    if ref is not None:
        theirs = ref.get("losses", [])
        n = min(len(theirs), len(losses))
        diffs = [abs(a - b) for a, b in zip(losses[:n], theirs[:n])]
        rel = [d / max(abs(b), 1e-12) for d, b in zip(diffs, theirs[:n])]
        line["check"] = {"ref": "mmboost", "ref_device": ref.get("device"), "steps": n,
                         "params_equal": ref.get("params") == params,
                         "max_abs_diff": max(diffs) if diffs else None,
                         "max_rel_diff": max(rel) if rel else None,
                         "first_rel_diff": rel[0] if rel else None}
    print(json.dumps(line))


if __name__ == "__main__":
    main()
