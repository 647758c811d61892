#!/usr/bin/python3
"""PyTorch's half of the side-by-side speed comparison (scripts/bench-vs-pytorch.sh).

A plain PyTorch eager training loop of the same work as bench/speed/qretrain_speed.cpp:
the same networks (their parameter counts are printed and checked against
qretrain's), shapes, synthetic data, optimizer, thread setup and, in the
quantized mode, the same quantize-per-update hook (the float weights are
swapped for w_q = sign(w) * min(floor(|w|/Δ + 0.5), 2^(b-1) - 1) * Δ for the
forward and backward, and back for the optimizer step). Δ stays fixed; it is
fitted once before timing (on the speed of the step it changes nothing).

Prints one JSON line per timed repetition: examples (characters for the LSTM)
per second over one fit of --steps updates, with a dev evaluation of one batch
at its start and end, as qretrain's Trainer does. The first fit is a warm-up.
"""
import argparse
import ctypes
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def set_threads(omp, blas):
    torch.set_num_threads(omp)
    try:
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(blas)
        lib = ctypes.CDLL("libopenblas.so.0")
        got = lib.openblas_get_num_threads()
        lib.openblas_get_corename.restype = ctypes.c_char_p
        core = lib.openblas_get_corename().decode()
        return f"{torch.get_num_threads()} intra-op (OpenMP) + {got} OpenBLAS ({core} kernels) threads, GEMM in OpenBLAS"
    except OSError:
        return f"{torch.get_num_threads()} intra-op (OpenMP) + BLAS threads unknown"


class FFDNN(nn.Module):  # src/models/ffdnn.cpp
    def __init__(self, inputs, hidden, classes):
        super().__init__()
        self.fc1 = nn.Linear(inputs, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, classes)

    def forward(self, x):
        return self.out(F.relu(self.fc2(F.relu(self.fc1(x.flatten(1))))))


class LeNet5(nn.Module):  # src/models/lenet5.cpp
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc3(F.relu(self.fc2(x)))


class CnnC(nn.Module):  # src/models/cnn_c.cpp
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 32, 5, padding=2)
        self.conv3 = nn.Conv2d(32, 64, 5, padding=2)
        self.norm1 = nn.LocalResponseNorm(3, alpha=5e-5, beta=0.75, k=1.0)
        self.norm2 = nn.LocalResponseNorm(3, alpha=5e-5, beta=0.75, k=1.0)
        self.fc = nn.Linear(64 * 3 * 3, 10)

    def forward(self, x):
        x = self.norm1(F.max_pool2d(F.relu(self.conv1(x)), 3, 2))
        x = self.norm2(F.avg_pool2d(F.relu(self.conv2(x)), 3, 2))
        x = F.avg_pool2d(F.relu(self.conv3(x)), 3, 2)
        return self.fc(x.flatten(1))


class CnnV(nn.Module):  # src/models/cnn_v.cpp
    def __init__(self):
        super().__init__()
        widths = [32, 32, 64, 64, 128, 128]
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        c = 1
        for w in widths:
            self.convs.append(nn.Conv2d(c, w, 3, padding=1, bias=False))
            self.norms.append(nn.BatchNorm2d(w))
            c = w
        self.fc1 = nn.Linear(128 * 4 * 4, 64, bias=False)
        self.bn_fc1 = nn.BatchNorm1d(64)
        self.fc2 = nn.Linear(64, 64, bias=False)
        self.bn_fc2 = nn.BatchNorm1d(64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = F.relu(norm(conv(x)))
            if i % 2 == 1:
                x = F.max_pool2d(x, 2)
        x = F.relu(self.bn_fc1(self.fc1(x.flatten(1))))
        x = F.relu(self.bn_fc2(self.fc2(x)))
        return self.fc3(x)


class LstmLm(nn.Module):  # src/models/lstm_lm.cpp: one-hot bytes -> 3 LSTM layers -> 256 logits
    def __init__(self, hidden=256, layers=3, vocabulary=256):
        super().__init__()
        self.vocabulary = vocabulary
        self.layers = nn.ModuleList(
            nn.LSTM(vocabulary if i == 0 else hidden, hidden, batch_first=True) for i in range(layers))
        self.out = nn.Linear(hidden, vocabulary)

    def forward(self, symbols, state):
        x = F.one_hot(symbols, self.vocabulary).to(self.out.weight.dtype)
        next_state = []
        for i, layer in enumerate(self.layers):
            x, s = layer(x) if not state else layer(x, state[i])
            next_state.append(s)
        return self.out(x), next_state


def quantize_(dst, w, delta, bits):
    level = 2 ** (bits - 1) - 1
    torch.mul(torch.sign(w), torch.clamp_max(torch.floor(w.abs() / delta + 0.5), level) * delta, out=dst)


class QuantHook:
    """The float weights of every rank >= 2 parameter are swapped for w_q during forward/backward."""

    def __init__(self, model, bits):
        self.bits = bits
        self.groups = []
        for p in model.parameters():
            if p.dim() >= 2:
                w = p.data
                delta = 2.0 * w.abs().mean().item()  # fixed Δ (timing does not depend on its value)
                self.groups.append((p, w, torch.empty_like(w), delta))

    def swap_in(self):
        with torch.no_grad():
            for p, w, q, delta in self.groups:
                quantize_(q, w, delta, self.bits)
                p.data = q

    def swap_out(self):
        for p, w, q, _ in self.groups:
            p.data = w


def context_index(utterances, length, radius):
    t = torch.arange(length)
    offsets = torch.arange(-radius, radius + 1)
    window = (t[:, None] + offsets[None, :]).clamp(0, length - 1)
    return torch.cat([window + u * length for u in range(utterances)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["ffdnn512", "ffdnn1024", "lstm", "lenet5", "cnn_c", "cnn_v"])
    ap.add_argument("--mode", default="float", choices=["float", "quant"])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--omp", type=int, required=True)
    ap.add_argument("--blas", type=int, required=True)
    ap.add_argument("--bits", type=int, default=2)
    ap.add_argument("--peak", action="store_true", help="print the sgemm peak with these threads and exit")
    args = ap.parse_args()
    threads = set_threads(args.omp, args.blas)
    torch.manual_seed(0)
    if args.peak:
        a, b, c = torch.randn(2048, 2048), torch.randn(2048, 2048), torch.empty(2048, 2048)
        best = 0
        for _ in range(6):
            t = time.perf_counter()
            torch.mm(a, b, out=c)
            best = max(best, 2 * 2048 ** 3 / (time.perf_counter() - t))
        print(json.dumps({"impl": "pytorch", "sgemm_peak_gflops": round(best / 1e9, 2), "threads": threads}))
        return
    if not args.model:
        ap.error("--model is required")

    lm = args.model == "lstm"
    batch = 64 if lm or args.model in ("lenet5", "cnn_c", "cnn_v") else 256
    if args.model.startswith("ffdnn"):
        hidden = 512 if args.model == "ffdnn512" else 1024
        model = FFDNN(11 * 123, hidden, 61)
        frames = (batch * args.steps + 299) // 300 * 300
        x = torch.randn(frames, 123)
        y = torch.randint(0, 61, (frames,))
        context = context_index(frames // 300, 300, 5)
        dev_x, dev_y, dev_context = torch.randn(300, 123), torch.randint(0, 61, (300,)), context_index(1, 300, 5)
        examples = lambda idx: x.index_select(0, context.index_select(0, idx).reshape(-1)).view(idx.numel(), -1)
        dev = lambda: dev_x.index_select(0, dev_context.reshape(-1)).view(300, -1)
    elif lm:
        model = LstmLm()
        unroll = 128
        columns = unroll * args.steps + 1
        rows = torch.randint(0, 256, (batch, columns), dtype=torch.uint8)
        dev_rows = torch.randint(0, 256, (4, 1024), dtype=torch.uint8)
    else:
        model = {"lenet5": LeNet5, "cnn_c": CnnC, "cnn_v": CnnV}[args.model]()
        x = torch.randn(batch * args.steps, 1, 32, 32)
        y = torch.randint(0, 10, (batch * args.steps,))
        dev_x, dev_y = torch.randn(64, 1, 32, 32), torch.randint(0, 10, (64,))
    params = sum(p.numel() for p in model.parameters())
    hook = QuantHook(model, args.bits) if args.mode == "quant" else None
    if lm:
        optimizer = torch.optim.RMSprop(model.parameters(), lr=5e-4, alpha=0.95, eps=1e-6)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=5e-4, momentum=0.9, nesterov=True)

    def evaluate():
        model.eval()
        if hook:
            hook.swap_in()
        with torch.no_grad():
            if lm:
                logits, _ = model(dev_rows[:, :-1].long(), [])
                F.cross_entropy(logits.flatten(0, 1), dev_rows[:, 1:].long().flatten()).item()
            elif args.model.startswith("ffdnn"):
                model(dev()).argmax(1).ne(dev_y).sum().item()
            else:
                model(dev_x).argmax(1).ne(dev_y).sum().item()
        if hook:
            hook.swap_out()
        model.train()

    def fit(steps):
        evaluate()
        model.train()
        state = []
        order = None if lm else torch.randperm(batch * steps)
        for s in range(steps):
            if hook:
                hook.swap_in()
            optimizer.zero_grad()
            if lm:
                inputs = rows[:, s * unroll:(s + 1) * unroll].long()
                targets = rows[:, s * unroll + 1:(s + 1) * unroll + 1].long()
                logits, state = model(inputs, state)
                state = [(h.detach(), c.detach()) for h, c in state]
                loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
            else:
                idx = order[s * batch:(s + 1) * batch]
                inputs = examples(idx) if args.model.startswith("ffdnn") else x.index_select(0, idx)
                loss = F.cross_entropy(model(inputs), y.index_select(0, idx))
            loss.backward()
            loss.item()
            if hook:
                hook.swap_out()
            optimizer.step()
        evaluate()

    fit(max(2, args.steps // 10))
    for r in range(args.reps):
        start = time.perf_counter()
        fit(args.steps)
        seconds = time.perf_counter() - start
        samples = batch * args.steps * (unroll if lm else 1)
        print(json.dumps({"impl": "pytorch", "model": args.model, "mode": args.mode, "rep": r,
                          "samples_per_s": round(samples / seconds, 3), "params": params, "threads": threads}),
              flush=True)


if __name__ == "__main__":
    main()
