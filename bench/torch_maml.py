"""MAML in PyTorch, written plainly, as the speed reference for `maml bench` (not a test).

The same work as the Rust CLI's configurations: the sinusoid MLP 1-40-40-1 (meta-batch 25, K = 10
support and 10 query points, 1 inner step, alpha 0.01) and conv4 on 28x28 5-way 1-shot tasks
(15 queries, meta-batch 32, 64 filters, stride-2 3x3 convs or, with --downsample max-pool,
stride-1 convs each followed by a 2x2 max-pool, batch-norm with batch statistics, alpha 0.4), second or first order, Adam with beta 0.001. Two implementations: a loop over the
tasks of a meta-batch with torch.autograd.grad(create_graph=True), and the tasks vectorised
with torch.func.vmap. Tasks are random data of the right shapes: speed does not depend on them.

usage: python torch_maml.py --task sinusoid|glyphs --order second|first --impl loop|vmap --iterations N [--downsample max-pool]
prints one JSON line: {"it_per_s", "ms_per_iter_median", "task", "model", "order", "meta_batch", "impl"}
With --flops, counts instead the floating-point operations of one meta-iteration (per-task loop,
torch.utils.flop_counter: matmuls and convolutions, forward and backward, second-order terms
included) and prints {"flops", ...}: the work both implementations do, for the fraction of peak.
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F
from torch.func import grad, vmap


def mlp_params(gen):
    def layer(i, o):
        bound = 1 / math.sqrt(i)
        return [(torch.rand(o, i, generator=gen) * 2 - 1) * bound, (torch.rand(o, generator=gen) * 2 - 1) * bound]
    return [p.requires_grad_() for p in layer(1, 40) + layer(40, 40) + layer(40, 1)]


def mlp(params, x):
    w1, b1, w2, b2, w3, b3 = params
    x = F.relu(F.linear(x, w1, b1))
    x = F.relu(F.linear(x, w2, b2))
    return F.linear(x, w3, b3)


def conv4_params(gen, filters=64, ways=5, side=2):
    ps, c = [], 1
    for _ in range(4):
        bound = 1 / math.sqrt(c * 9)
        ps += [(torch.rand(filters, c, 3, 3, generator=gen) * 2 - 1) * bound, torch.ones(filters), torch.zeros(filters)]
        c = filters
    bound = 1 / math.sqrt(filters * side * side)
    ps += [(torch.rand(ways, filters * side * side, generator=gen) * 2 - 1) * bound, (torch.rand(ways, generator=gen) * 2 - 1) * bound]
    return [p.requires_grad_() for p in ps]


def conv4(params, x, max_pool=False):
    for i in range(4):
        w, gamma, beta = params[3 * i: 3 * i + 3]
        x = F.conv2d(x, w, stride=1 if max_pool else 2, padding=1)
        x = F.relu(F.batch_norm(x, None, None, gamma, beta, training=True))
        if max_pool:
            x = F.max_pool2d(x, 2)
    return F.linear(x.flatten(1), params[12], params[13])


def make(task, gen, meta_batch):
    if task == "sinusoid":
        amp = torch.rand(meta_batch, 1, 1, generator=gen) * 4.9 + 0.1
        phase = torch.rand(meta_batch, 1, 1, generator=gen) * math.pi
        xs, xq = (torch.rand(meta_batch, 10, 1, generator=gen) * 10 - 5 for _ in range(2))
        return xs, amp * torch.sin(xs - phase), xq, amp * torch.sin(xq - phase)
    ways = 5
    xs = torch.rand(meta_batch, ways, 1, 28, 28, generator=gen)
    xq = torch.rand(meta_batch, ways * 15, 1, 28, 28, generator=gen)
    ys = torch.arange(ways).repeat(meta_batch, 1)
    yq = torch.arange(ways).repeat_interleave(15).repeat(meta_batch, 1)
    return xs, ys, xq, yq


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--task", default="sinusoid", choices=["sinusoid", "glyphs"])
    a.add_argument("--order", default="second", choices=["second", "first"])
    a.add_argument("--impl", default="loop", choices=["loop", "vmap"])
    a.add_argument("--iterations", type=int, default=20)
    a.add_argument("--downsample", default="stride", choices=["stride", "max-pool"])
    a.add_argument("--flops", action="store_true")
    args = a.parse_args()
    if args.flops:
        args.impl = "loop"
    gen = torch.Generator().manual_seed(0)
    sine = args.task == "sinusoid"
    if sine:
        net, params = mlp, mlp_params(gen)
    elif args.downsample == "max-pool":  # 28 -> 14 -> 7 -> 3 -> 1
        net, params = (lambda p, x: conv4(p, x, max_pool=True)), conv4_params(gen, side=1)
    else:  # 28 -> 14 -> 7 -> 4 -> 2
        net, params = conv4, conv4_params(gen)
    loss_fn = F.mse_loss if sine else F.cross_entropy
    alpha, meta_batch = (0.01, 25) if sine else (0.4, 32)
    second = args.order == "second"
    opt = torch.optim.Adam(params, lr=1e-3)

    def task_loss(params, xs, ys, xq, yq):
        # one task: one inner step, then the query loss (create_graph keeps the Hessian terms)
        support = loss_fn(net(params, xs), ys)
        if args.impl == "vmap":
            g = grad(lambda p: loss_fn(net(p, xs), ys))(params)
            if not second:
                g = [gi.detach() for gi in g]
        else:
            g = torch.autograd.grad(support, params, create_graph=second)
        adapted = [p - alpha * gi for p, gi in zip(params, g)]
        return loss_fn(net(adapted, xq), yq)

    def iteration():
        xs, ys, xq, yq = make(args.task, gen, meta_batch)
        opt.zero_grad()
        if args.impl == "vmap":
            meta = vmap(task_loss, in_dims=(None, 0, 0, 0, 0), randomness="same")(params, xs, ys, xq, yq).mean()
        else:
            meta = sum(task_loss(params, xs[t], ys[t], xq[t], yq[t]) for t in range(meta_batch)) / meta_batch
        meta.backward()
        opt.step()

    if args.flops:
        from torch.utils.flop_counter import FlopCounterMode
        with FlopCounterMode(display=False) as counter:
            iteration()
        print(json.dumps({"flops": counter.get_total_flops(), "task": args.task, "order": args.order, "meta_batch": meta_batch}))
        return
    for _ in range(2):
        iteration()  # warm-up
    times = []
    start = time.perf_counter()
    for _ in range(args.iterations):
        t = time.perf_counter()
        iteration()
        times.append((time.perf_counter() - t) * 1e3)
    total = time.perf_counter() - start
    times.sort()
    print(json.dumps({
        "it_per_s": len(times) / total, "ms_per_iter_median": times[len(times) // 2], "task": args.task,
        "model": "mlp" if sine else f"conv4 ({args.downsample})", "order": args.order, "meta_batch": meta_batch, "impl": args.impl,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
