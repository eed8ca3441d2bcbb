# PyTorch side of bench/cuda-overhead.ts: the same ops, timed the same way.
import json, statistics, time
import torch

dev = 'cuda'

def time_it(reps, f):
    out = []
    for _ in range(5):
        torch.cuda.synchronize(); s = time.perf_counter()
        for _ in range(reps):
            f()
        torch.cuda.synchronize(); out.append((time.perf_counter() - s) / reps)
    return statistics.median(out)

a = torch.ones(1024, device=dev); b = torch.ones(1024, device=dev)
time_it(100, lambda: a + b)
add_us = time_it(2000, lambda: a + b) * 1e6
x = torch.randn(256, 64, 32, 32, device=dev); w = torch.randn(64, 64, 3, 3, device=dev)
time_it(5, lambda: torch.nn.functional.conv2d(x, w, None, padding=1))
conv = time_it(50, lambda: torch.nn.functional.conv2d(x, w, None, padding=1)) * 1e3
gn = time_it(50, lambda: torch.nn.functional.group_norm(x, 8)) * 1e3
q = torch.randn(256, 64, 64, device=dev)
attn = time_it(50, lambda: torch.softmax(q.bmm(q.transpose(1, 2)), -1)) * 1e3
print(json.dumps({'engine': 'pytorch ' + torch.__version__, 'add_us': add_us, 'conv_b256_ms': conv, 'groupnorm_b256_ms': gn, 'attn_b256_ms': attn}))
