"""Benchmark of pwlgen.nn: measured memory of a converted GPT-2 (CPU), speed on a GPU.

    python benchmarks/gpu_ops.py                 # everything the machine allows, markdown
    python benchmarks/gpu_ops.py --quick         # 1M and 16M only, small models
    python benchmarks/gpu_ops.py --json out.json # also write the raw numbers

Part 0 (any machine, CPU): a Hugging Face GPT-2 built from a small `GPT2Config` (4 layers,
n_embd 128, 128 tokens, random weights, no download) converted to regelu2 / fewbit / pwl;
prints the bytes saved for backward measured with saved-tensor hooks
(`pwlgen.nn.memory_report`), per layer and in total, original vs converted, and the
activation sites' own figures. Parts 1 and 2 need a CUDA GPU. Part 1 times forward,
backward and forward+backward with `triton.testing.do_bench` over 1M-256M elements in fp32
and bf16, against eager and compiled `F.gelu` / `F.silu`, and prints achieved GB/s (bytes
the op must move / time) next to the card's bandwidth, and the bytes saved for backward
per element. Part 2 trains a GPT-style transformer and a ViT (random weights, built from
a config, no downloads) for a few steps with and without `pwlgen.nn.convert`, and prints
peak memory and step time, plus what the GELUs held for backward (measured).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# Peak HBM bandwidth in GB/s by device name (vendor data sheets); a device-to-device copy
# is measured as well, as the practical ceiling.
CARD_BANDWIDTH = {"H100 SXM": 3350.0, "H100 PCIe": 2000.0, "H100 NVL": 3900.0, "H200": 4800.0,
                  "A100-SXM4-80GB": 2039.0, "A100-SXM4-40GB": 1555.0}


def card_bandwidth(name: str) -> float | None:
    for key, bw in CARD_BANDWIDTH.items():
        if all(part in name for part in key.split()):
            return bw
    if "H100" in name:
        return CARD_BANDWIDTH["H100 SXM"]
    return None


def bench(fn, grad_to_none=None) -> float:
    from triton.testing import do_bench

    return float(do_bench(fn, warmup=25, rep=100, grad_to_none=grad_to_none))


def copy_bandwidth(n: int = 1 << 28) -> float:
    x = torch.empty(n, dtype=torch.uint8, device="cuda")
    y = torch.empty_like(x)
    ms = bench(lambda: y.copy_(x))
    return 2 * n / ms / 1e6


# ------------------------------------------------------------------------- part 1: ops
# ------------------------------------------------------------------------- part 0: memory
def gpt2_memory(batch: int = 2, seq: int = 128, embd: int = 128, layers: int = 4) -> list[dict]:
    """Measured saved-for-backward bytes per sample of GPT-2, original and converted."""
    import transformers

    from pwlgen.fixedpoint import design
    from pwlgen.nn import convert, memory_report

    cfg = transformers.GPT2Config(n_layer=layers, n_embd=embd, n_head=4, n_positions=seq,
                                  vocab_size=1024, bos_token_id=0, eos_token_id=0)
    tokens = torch.randint(0, cfg.vocab_size, (batch, seq),
                           generator=torch.Generator().manual_seed(0))
    rows = []
    for to, kwargs in ((None, {}), ("regelu2", {}), ("fewbit", {"bits": 3}),
                       ("pwl", {"fixed": design("gelu_tanh", symmetry="none")})):
        torch.manual_seed(0)
        model = transformers.GPT2LMHeadModel(cfg)
        sites = None
        if to is not None:
            report = convert(model, to=to, measure=tokens, **kwargs)
            sites = report.bytes_saved_per_sample
        layer_scopes = {f"h.{i}": blk for i, blk in enumerate(model.transformer.h)}
        r = memory_report(model, tokens, layer_scopes)
        rows.append({"convert": to or "none", "total": r.per_sample(r.total_bytes),
                     "layers": [r.per_sample(r.scope_bytes[k]) for k in layer_scopes],
                     "sites_saved": sites})
    return rows


def print_memory_table(rows: list[dict]) -> None:
    n = len(rows[0]["layers"])
    print("\nGPT-2 from GPT2Config (4 layers, n_embd 128, 128 tokens, fp32, CPU): bytes saved "
          "for backward per sample, measured with saved-tensor hooks\n")
    print("| convert | " + " | ".join(f"layer {i}" for i in range(n)) +
          " | total | total vs original | saved at the sites |")
    print("|---|" + "---|" * (n + 3))
    base = rows[0]["total"]
    for r in rows:
        sites = "" if r["sites_saved"] is None else f"{r['sites_saved']:,.0f}"
        print(f"| {r['convert']} | " + " | ".join(f"{v:,.0f}" for v in r["layers"]) +
              f" | {r['total']:,.0f} | {r['total'] / base:.3f}x | {sites} |")


@dataclass
class OpRow:
    fn: str
    impl: str
    dtype: str
    n: int
    fwd_ms: float
    bwd_ms: float
    full_ms: float
    fwd_gbs: float
    bwd_gbs: float
    saved_bytes_per_elem: float


def op_rows(fn: str, n: int, dtype: torch.dtype) -> list[OpRow]:
    from pwlgen.nn import ReGELU2, ReSiLU2

    ours = ReGELU2() if fn == "gelu" else ReSiLU2()
    ref = F.gelu if fn == "gelu" else F.silu
    compiled = torch.compile(ref)
    s = torch.empty((), dtype=dtype).element_size()
    x = torch.randn(n, device="cuda", dtype=dtype)
    xg = x.clone().requires_grad_(True)
    g = torch.randn_like(x)
    rows = []
    for impl, f in (("pwlgen", ours), ("eager", ref), ("compiled", compiled)):
        fwd = bench(lambda f=f: f(x))
        y = f(xg)
        bwd = bench(lambda y=y: y.backward(g, retain_graph=True), grad_to_none=[xg])
        del y
        full = bench(lambda f=f: f(xg).backward(g), grad_to_none=[xg])
        if impl == "pwlgen":
            code = n * 2 / 8
            fwd_bytes, bwd_bytes, saved = 2 * n * s + code, 2 * n * s + code, code / n
        else:  # x read, y written; backward reads grad and the saved x, writes dx
            fwd_bytes, bwd_bytes, saved = 2 * n * s, 3 * n * s, float(s)
        rows.append(OpRow(fn, impl, str(dtype).removeprefix("torch."), n, fwd, bwd, full,
                          fwd_bytes / fwd / 1e6, bwd_bytes / bwd / 1e6, saved))
        torch.cuda.empty_cache()
    return rows


def print_op_table(rows: list[OpRow], card_bw: float | None, copy_bw: float) -> None:
    print(f"\ncard bandwidth: {card_bw or 'unknown'} GB/s (data sheet), "
          f"{copy_bw:.0f} GB/s (measured copy)\n")
    print("| fn | dtype | elements | impl | fwd ms | bwd ms | fwd+bwd ms | fwd GB/s | "
          "bwd GB/s | saved B/elem | fwd+bwd vs eager |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    eager = {(r.fn, r.dtype, r.n): r.full_ms for r in rows if r.impl == "eager"}
    for r in rows:
        ratio = eager[(r.fn, r.dtype, r.n)] / r.full_ms
        print(f"| {r.fn} | {r.dtype} | {r.n // (1 << 20)}M | {r.impl} | {r.fwd_ms:.3f} | "
              f"{r.bwd_ms:.3f} | {r.full_ms:.3f} | {r.fwd_gbs:.0f} | {r.bwd_gbs:.0f} | "
              f"{r.saved_bytes_per_elem:.2f} | {ratio:.2f}x |")


# ------------------------------------------------------------------------- part 2: models
@dataclass
class GPTConfig:
    vocab: int = 32000
    seq: int = 1024
    dim: int = 1024
    heads: int = 16
    layers: int = 12
    mlp_ratio: int = 4


@dataclass
class ViTConfig:
    image: int = 224
    patch: int = 16
    dim: int = 768
    heads: int = 12
    layers: int = 12
    mlp_ratio: int = 4
    classes: int = 1000


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int, causal: bool):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(),
                                 nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).unbind(2)
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                           v.transpose(1, 2), is_causal=self.causal)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.tok, self.pos = nn.Embedding(c.vocab, c.dim), nn.Embedding(c.seq, c.dim)
        self.blocks = nn.ModuleList(Block(c.dim, c.heads, c.mlp_ratio, True)
                                    for _ in range(c.layers))
        self.ln, self.head = nn.LayerNorm(c.dim), nn.Linear(c.dim, c.vocab, bias=False)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x))


class ViT(nn.Module):
    def __init__(self, c: ViTConfig):
        super().__init__()
        self.embed = nn.Conv2d(3, c.dim, c.patch, c.patch)
        n = (c.image // c.patch) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, c.dim))
        self.pos = nn.Parameter(torch.randn(1, n + 1, c.dim) * 0.02)
        self.blocks = nn.ModuleList(Block(c.dim, c.heads, c.mlp_ratio, False)
                                    for _ in range(c.layers))
        self.ln, self.head = nn.LayerNorm(c.dim), nn.Linear(c.dim, c.classes)

    def forward(self, img):
        x = self.embed(img).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x[:, 0]))


def train_step_stats(make_model, make_batch, convert_to: str | None, steps: int = 5) -> dict:
    from pwlgen.nn import convert

    torch.manual_seed(0)
    model = make_model().cuda().to(torch.bfloat16)
    report = None
    inputs, target = make_batch()
    if convert_to is not None:
        report = convert(model, to=convert_to, measure=inputs[:1])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)

    def step():
        out = model(inputs)
        loss = F.cross_entropy(out.reshape(-1, out.shape[-1]).float(), target.reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()  # warm-up: optimizer state allocated
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    ms = (time.perf_counter() - t0) / steps * 1e3
    peak = torch.cuda.max_memory_allocated() / 2**20
    gelu_mib = None
    if report is not None:
        # what the original GELUs kept for backward, measured
        gelu_mib = sum(s.bytes_before_per_sample for s in report.replaced) * inputs.shape[0]
        gelu_mib /= 2**20
    return {"convert": convert_to or "none", "step_ms": ms, "peak_mib": peak,
            "gelu_input_mib": gelu_mib}


def model_table(quick: bool) -> list[dict]:
    gc = GPTConfig(layers=4, dim=512, heads=8, seq=512) if quick else GPTConfig()
    vc = ViTConfig(layers=4, dim=384, heads=6) if quick else ViTConfig()
    gbatch, vbatch = (4, 16) if quick else (8, 64)

    def gpt_batch():
        idx = torch.randint(0, gc.vocab, (gbatch, gc.seq), device="cuda")
        return idx, torch.roll(idx, -1, dims=1)

    def vit_batch():
        img = torch.randn(vbatch, 3, vc.image, vc.image, device="cuda", dtype=torch.bfloat16)
        return img, torch.randint(0, vc.classes, (vbatch,), device="cuda")

    rows = []
    for name, mk, mb in (("GPT", lambda: GPT(gc), gpt_batch), ("ViT", lambda: ViT(vc), vit_batch)):
        for to in (None, "regelu2"):
            r = train_step_stats(mk, mb, to)
            rows.append({"model": name, **r})
            torch.cuda.empty_cache()
    base = {r["model"]: r for r in rows if r["convert"] == "none"}
    print("\n| model | activation | step ms | peak MiB | peak saved MiB | GELUs held MiB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        saved = base[r["model"]]["peak_mib"] - r["peak_mib"]
        gm = "" if r["gelu_input_mib"] is None else f"{r['gelu_input_mib']:.0f}"
        print(f"| {r['model']} | {r['convert']} | {r['step_ms']:.1f} | {r['peak_mib']:.0f} | "
              f"{saved:.0f} | {gm} |")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes and models")
    p.add_argument("--json", help="write the raw numbers to this file")
    p.add_argument("--skip-models", action="store_true")
    p.add_argument("--skip-memory", action="store_true", help="skip part 0 (GPT-2 memory)")
    args = p.parse_args(argv)
    memory = [] if args.skip_memory else gpt2_memory()
    if memory:
        print_memory_table(memory)
    if not torch.cuda.is_available():
        print("gpu_ops: no CUDA GPU: speed not measured", file=sys.stderr)
        if args.json:
            _write_json(args.json, {"device": "cpu", "gpt2_memory": memory})
        return 0
    name = torch.cuda.get_device_name()
    print(f"# pwlgen.nn on {name} (torch {torch.__version__})")
    sizes = [1 << 20, 1 << 24] if args.quick else [1 << k for k in (20, 22, 24, 26, 28)]
    card_bw, copy_bw = card_bandwidth(name), copy_bandwidth()
    rows = []
    for fn in ("gelu", "silu"):
        for dtype in (torch.float32, torch.bfloat16):
            for n in sizes:
                rows += op_rows(fn, n, dtype)
    print_op_table(rows, card_bw, copy_bw)
    models = [] if args.skip_models else model_table(args.quick)
    if args.json:
        _write_json(args.json, {"device": name, "card_bw_gbs": card_bw, "copy_bw_gbs": copy_bw,
                                "gpt2_memory": memory, "ops": [r.__dict__ for r in rows],
                                "models": models})
    return 0


def _write_json(path: str, data: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
