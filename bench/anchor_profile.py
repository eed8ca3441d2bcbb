# Per-operator self and total CPU times of the anchor UNet in PyTorch (torch.autograd.profiler), for
# bench/engine-profile.ts to set beside the engine's own. Imports the model from the anchor script and
# runs the same training step and forward as its benchmark. Prints one JSON object.
#   /usr/bin/python3 bench/anchor_profile.py --anchor ../shared/anchors/pytorch_unet.py [--threads 2] [--batch 64] [--steps 5]
import argparse, importlib.util, json, time

import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--anchor", required=True)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--steps", type=int, default=5)
a = p.parse_args()

spec = importlib.util.spec_from_file_location("anchor", a.anchor)
anchor = importlib.util.module_from_spec(spec)
spec.loader.exec_module(anchor)

torch.set_num_threads(a.threads)
torch.manual_seed(0)
model = anchor.UNet()
x0 = torch.rand(a.batch, 1, 32, 32) * 2 - 1
abar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000), 0)
opt = torch.optim.Adam(model.parameters(), lr=2e-4)
t_fixed = torch.randint(0, 1000, (a.batch,))


def step():
    model.train()
    t = torch.randint(0, 1000, (a.batch,))
    eps = torch.randn_like(x0)
    ab = abar[t][:, None, None, None]
    loss = F.mse_loss(model(ab.sqrt() * x0 + (1 - ab).sqrt() * eps, t), eps)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def forward():
    model.eval()
    with torch.no_grad():
        model(x0, t_fixed)


def profiled(fn):
    for _ in range(a.warmup):
        fn()
    with torch.autograd.profiler.profile() as prof:
        s = time.perf_counter()
        for _ in range(a.steps):
            fn()
        wall = time.perf_counter() - s
    ops = {e.key: [e.count, e.cpu_time_total, e.self_cpu_time_total] for e in prof.key_averages()}
    return {"wall_ms": wall * 1000, "ops": ops}


print(json.dumps({"train": profiled(step), "forward": profiled(forward), "steps": a.steps}))
