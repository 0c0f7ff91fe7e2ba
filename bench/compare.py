"""Runs `maml bench` and the PyTorch reference (torch_maml.py, loop and vmap) alternately on this
machine and prints, per configuration, the median it/s of each and the ratio of ours to the faster
PyTorch; then the floating-point work of one meta-iteration (counted by PyTorch's flop counter on
the same configuration) and the fraction of the machine's f32 peak each implementation reaches.
A benchmark, not a test. It makes bench/.venv with torch from PyPI on first use.

The peak is nominal: cores x clock (/proc/cpuinfo) x 32 f32 FLOPs per cycle (two 8-lane FMA
pipes: AVX2, or AVX-512 on Zen 4, which issues it as two 256-bit halves); --flops-per-cycle
changes it for other CPUs.

usage: python3 bench/compare.py [--repeats 3] [--flops-per-cycle 32] [--only glyphs]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".venv"
CONFIGS = [  # (task, order, iterations, extra flags for both)
    ("sinusoid", "second", 300, []), ("sinusoid", "first", 300, []),
    ("glyphs", "second", 5, []), ("glyphs", "first", 5, []),
    # the max-pool variant of conv4: stride-1 convolutions, each followed by a 2x2 max-pool
    ("glyphs", "second", 2, ["--downsample", "max-pool"]),
]


def run(cmd):
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--repeats", type=int, default=3)
    a.add_argument("--flops-per-cycle", type=int, default=32)
    a.add_argument("--only", help="run only the configurations whose task and flags contain this")
    args = a.parse_args()
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "torch"], check=True)
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    maml = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target")) + "/release/maml"
    mhz = max(float(l.split(":")[1]) for l in open("/proc/cpuinfo") if l.startswith("cpu MHz"))
    peak = os.cpu_count() * mhz * 1e6 * args.flops_per_cycle
    model = next((l.split(":")[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    torch_version = subprocess.run([python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {model}, {os.cpu_count()} cores at {mhz:.0f} MHz, nominal f32 peak {peak / 1e9:.0f} GFLOP/s; torch {torch_version}; load {os.getloadavg()[0]:.2f}")
    print(f"{'task':22} {'order':6} {'ours it/s':>10} {'torch loop':>11} {'torch vmap':>11} {'ratio':>6} {'GFLOP/it':>9} {'ours %peak':>11} {'torch %peak':>12}")
    for task, order, n, flags in CONFIGS:
        name = " ".join([task, *flags[1:]])
        if args.only and args.only not in name:
            continue
        ours, loop, vmapped = [], [], []
        for _ in range(args.repeats):  # alternate, so load drifts hit all three alike
            ours.append(run([maml, "bench", "--task", task, *flags, *(["--first-order"] if order == "first" else []), "--iterations", str(n)])["it_per_s"])
            for impl, acc in (("loop", loop), ("vmap", vmapped)):
                acc.append(run([python, "bench/torch_maml.py", "--task", task, *flags, "--order", order, "--impl", impl, "--iterations", str(n)])["it_per_s"])
        o, l, v = (statistics.median(x) for x in (ours, loop, vmapped))
        flops = run([python, "bench/torch_maml.py", "--task", task, *flags, "--order", order, "--flops"])["flops"]
        pct = lambda it_s: f"{100 * flops * it_s / peak:.1f}"
        print(f"{name:22} {order:6} {o:10.2f} {l:11.2f} {v:11.2f} {o / max(l, v):6.2f} {flops / 1e9:9.3g} {pct(o):>11} {pct(max(l, v)):>12}", flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
