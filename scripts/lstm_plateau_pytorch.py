# Plain PyTorch check beside qretrain (results/README, Table 4): does a 3x64
# LSTM char model on GCIDE text sit at the unigram rate for its first ~300
# RMSprop updates, as qretrain's does? Plain TBPTT (k1 = k2 = 128) with carried
# state over 64 streams of the first 6 MB; prints the training bits per
# character every 30 updates. Usage: python3 scripts/lstm_plateau_pytorch.py [LR] [SEED]
import gzip, math, sys, torch
torch.set_num_threads(1); torch.manual_seed(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
lr = float(sys.argv[1]) if len(sys.argv) > 1 else 2e-3
raw = gzip.open('/usr/share/dictd/gcide.dict.dz').read(6_000_000)
data = torch.tensor(list(raw), dtype=torch.long)
S, K = 64, 128
L = data.numel() // S
streams = data[: S * L].view(S, L)
class LM(torch.nn.Module):
    def __init__(s):
        super().__init__(); s.lstm = torch.nn.LSTM(256, 64, num_layers=3, batch_first=True); s.out = torch.nn.Linear(64, 256)
    def forward(s, x, st):
        y, st = s.lstm(torch.nn.functional.one_hot(x, 256).float(), st); return s.out(y), st
m = LM(); opt = torch.optim.RMSprop(m.parameters(), lr=lr, alpha=0.95, eps=1e-6)
st = None; acc = 0.0; n = 0
for u in range(480):
    p = (u * K) % (L - K - 1)
    x, t = streams[:, p:p + K], streams[:, p + 1:p + K + 1]
    if st is not None: st = tuple(s.detach() for s in st)
    logits, st = m(x, st)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 256), t.reshape(-1))
    opt.zero_grad(); loss.backward(); opt.step()
    acc += loss.item(); n += 1
    if (u + 1) % 30 == 0:
        print(f"lr {lr} update {u+1} train {acc/n/math.log(2):.3f} bits/char", flush=True); acc = 0; n = 0
