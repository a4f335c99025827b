"""G's output head on categorical tables: gantune's head against the one it replaced.

`EarlierHead` is a faithful copy of `gan.models.OutputHead` before 2026-11-29 (every one-hot
block padded to the widest one, features last, advanced indexing). Both run in this process,
interleaved, best of N (the machines are shared and noisy), on the same table:
  * head:  the head's forward and hand-written backward alone, K members x batch rows;
  * step:  a whole `gan.packed.PackedTrainer` step (D and G, Adam) of K members, with gantune's
           head and with the earlier one swapped in;
  * lone:  with --lone, a step of the lone `gan.train.Trainer` (autograd, as `gantune train` and
           per-trial mode run) at batch 32, 256 and 1,024 (those the table's rows allow), each head
           swapped in.
It prints microseconds per call and the ratio (earlier / now; above 1 is faster now).

    python bench/head_speed.py [--data mixed:8000] [--ks 1,4,16] [--batch 256] [--repeats 3] [--lone]

`--data mixed:N` is `bench/tables.py`'s generated table of N rows (11 categorical blocks of 2..30
levels); any gantune data name or CSV path works too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tables import make_mixed  # noqa: E402  (bench/ is not a package)

from gan.config import GANConfig  # noqa: E402
from gan.data import load_data  # noqa: E402
from gan.models import OutputHead, OutputLayout, gumbel  # noqa: E402
from gan.packed import PackedTrainer  # noqa: E402
from gan.train import Trainer  # noqa: E402


class EarlierHead(nn.Module):
    """gan.models.OutputHead as it was (commit 4dbc541): one padded group, features last."""

    def __init__(self, layout: OutputLayout, tau: float) -> None:
        super().__init__()
        self.layout, self.tau, self.has_linear = layout, float(tau), bool(layout.linear)
        if self.has_linear:
            mask = torch.zeros(layout.n_tanh, dtype=torch.bool)
            mask[list(layout.linear)] = True
            self.register_buffer("linear_mask", mask, persistent=False)
        w_max, pad = max(layout.blocks), layout.n_soft
        gather = np.full((len(layout.blocks), w_max), pad, dtype=np.int64)
        back, pos = [], 0
        for b, w in enumerate(layout.blocks):
            gather[b, :w] = np.arange(pos, pos + w)
            back.extend(b * w_max + np.arange(w))
            pos += w
        self.register_buffer("gather_idx", torch.from_numpy(gather), persistent=False)
        self.register_buffer("back_idx", torch.tensor(back, dtype=torch.long), persistent=False)

    def _numeric(self, logits: torch.Tensor) -> torch.Tensor:
        out = torch.tanh(logits)
        return torch.where(self.linear_mask, logits, out) if self.has_linear else out

    def _numeric_backward(self, dout: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        d = torch.ops.aten.tanh_backward(dout, out)
        return torch.where(self.linear_mask, dout, d) if self.has_linear else d

    def forward(self, logits: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_saving(logits, u)[0]

    def forward_saving(self, logits: torch.Tensor, u: torch.Tensor | None = None):
        lay = self.layout
        num = self._numeric(logits[..., : lay.n_tanh])
        soft = logits[..., lay.n_tanh :]
        if u is not None:
            soft = soft + gumbel(u)
        padded = torch.cat([soft, soft.new_full((*soft.shape[:-1], 1), float("-inf"))], dim=-1)
        grouped = F.softmax(padded[..., self.gather_idx] * (1.0 / self.tau), dim=-1)
        return torch.cat([num, grouped.flatten(-2)[..., self.back_idx]], dim=-1), (num, grouped)

    def backward(self, dout: torch.Tensor, saved: tuple[torch.Tensor, ...]) -> torch.Tensor:
        lay = self.layout
        num, grouped = saved
        d_probs = dout.new_zeros(grouped.shape).flatten(-2)
        d_probs[..., self.back_idx] = dout[..., lay.n_tanh :]
        d_grouped = torch.ops.aten._softmax_backward_data(d_probs.view(grouped.shape), grouped, -1, grouped.dtype) * (1.0 / self.tau)
        d_padded = dout.new_zeros((*dout.shape[:-1], lay.n_soft + 1))
        d_padded[..., self.gather_idx] = d_grouped
        return torch.cat([self._numeric_backward(dout[..., : lay.n_tanh], num), d_padded[..., : lay.n_soft]], dim=-1)


def interleaved(heads: dict[str, nn.Module], install: Callable[[nn.Module], None], work: Callable[[], None],
                calls: int, repeats: int) -> dict[str, float]:
    """Seconds per call of `work` with each head installed, interleaved, best of `repeats`."""
    best = {name: float("inf") for name in heads}
    for _ in range(repeats):
        for name, head in heads.items():
            install(head)
            t0 = time.perf_counter()
            for _ in range(calls):
                work()
            best[name] = min(best[name], (time.perf_counter() - t0) / calls)
    return best


def row(label: int, what: str, times: dict[str, float]) -> str:
    return f"{label:5d} {what:5} {times['earlier'] * 1e6:11.0f} {times['now'] * 1e6:9.0f} {times['earlier'] / times['now']:6.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="mixed:8000")
    ap.add_argument("--ks", default="1,4,16", help="members per pack")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=50, help="pack steps per timing")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lone", action="store_true", help="also time the lone trainer's step at batch 32 / 256 / 1,024")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        source = args.data
        if source.startswith("mixed:"):
            source = str(Path(tmp) / "mixed.csv")
            make_mixed(int(args.data.split(":")[1]), seed=0).to_csv(source, index=False)
        data = load_data(source, quiet=True)
    layout = data.transformer.layout
    if not layout.blocks:
        raise SystemExit(f"{args.data}: no categorical columns, so no softmax blocks to time")
    print(f"{args.data}: encoded width {layout.width}, {len(layout.blocks)} blocks of {min(layout.blocks)}..{max(layout.blocks)}; "
          f"batch {args.batch}, one thread, best of {args.repeats}")
    print(f"{'K':>5} {'what':5} {'earlier us':>11} {'now us':>9} {'ratio':>6}")
    for k in (int(x) for x in args.ks.split(",")):
        now, earlier = OutputHead(layout, 0.2), EarlierHead(layout, 0.2)
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(k, layout.width, args.batch, generator=gen).transpose(1, 2)  # the pack's layout
        u = torch.rand(k, layout.n_soft, args.batch, generator=gen).transpose(1, 2)
        dout = torch.randn(k, layout.width, args.batch, generator=gen).transpose(1, 2)
        heads = {"earlier": earlier, "now": now}
        (o1, s1), (o2, s2) = earlier.forward_saving(x, u), now.forward_saving(x, u)
        gap = max((o1 - o2).abs().max().item(), (earlier.backward(dout, s1) - now.backward(dout, s2)).abs().max().item())
        if gap > 1e-4:  # the same function: ~1e-7 apart in the softmax's last bits
            raise SystemExit(f"the two heads disagree by {gap:.2e}: the comparison would be meaningless")
        holder: dict[str, nn.Module] = {}
        times = interleaved(heads, lambda h: holder.update(head=h), lambda: holder["head"].backward(dout, holder["head"].forward_saving(x, u)[1]),
                            max(5, 400 // k), args.repeats)
        print(row(k, "head", times))
        configs = [GANConfig(seed=i, batch_size=args.batch, g_widths=(64, 64), d_widths=(64, 64), steps=10**6) for i in range(k)]
        trainer = PackedTrainer(configs, data)
        trainer.run_steps(5)  # warm-up
        times = interleaved(heads, lambda h: setattr(trainer, "head", h), lambda: trainer.run_steps(args.steps), 1, args.repeats)
        print(row(k, "step", {name: t / args.steps for name, t in times.items()}))
    if args.lone:
        print(f"{'b':>5} {'what':5} {'earlier us':>11} {'now us':>9} {'ratio':>6}")
        for batch in [b for b in (32, 256, 1024) if b <= len(data.train_idx)]:
            lone = Trainer(GANConfig(batch_size=batch, g_widths=(64, 64), d_widths=(64, 64), steps=10**6), data, "cpu")
            heads = {"earlier": EarlierHead(layout, lone.G.head.tau), "now": lone.G.head}
            lone.run_steps(5)
            times = interleaved(heads, lambda h: setattr(lone.G, "head", h), lambda: lone.run_steps(args.steps), 1, args.repeats)
            print(row(batch, "lone", {name: t / args.steps for name, t in times.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
