#!/usr/bin/env python3
"""PyTorch's side of `selfsup bench --compare-pytorch`: the same training step, timed the same way.

The model, batch, losses, optimiser and thread count mirror selfsup's train benchmark
(crates/selfsup-cli/src/commands/bench/train.rs):

- ResNet-18 (default), -34 or -50 (`--arch`; torchvision's v1.5 bottlenecks, stride on the 3x3)
  with the small stem (3x3 stride-1 conv, no max-pool; default) or ImageNet's (`--stem imagenet`:
  7x7 stride-2 conv and 3x3 stride-2 max-pool), width W (channels of the first stage), C input
  channels (`--channels`, default 1), torchvision's init; BatchNorm in training mode; global
  average pool. F = 8W features (32W for resnet50).
- SimCLR: projection head Linear(F, F) -> BN -> ReLU -> Linear(F, 128), NT-Xent at T = 0.2.
- WCL: two such heads; NT-Xent on the first (T = 0.1), plus the swapped supervised-contrastive
  loss on the second with weak labels from the 1-nearest-neighbour graph's connected components
  of each view (T = 0.1, weight 1).
- Each view goes through the backbone on its own (batch norm sees one view's batch), as selfsup.
- SGD, lr 0.2, momentum 0.9 (no dampening), weight decay 5e-4, as configs/fashion_mnist/wcl.toml.
- A step: upload both views of `batch` synthetic S x S images (`--image-size`, default 28) (uniform in [-1, 1), fixed seed),
  forward, the loss read back and checked finite, backward, every gradient checked finite, the
  optimiser's update, and a device sync on CUDA. images/s = batch / median step time over
  `--steps` timed steps after `--warmup-steps` untimed ones.

Needs `pip install torch` (not part of the test path). Writes one JSON document to stdout (or
`--json FILE`); progress goes to stderr.
"""

import argparse
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv(cin, cout, kernel, stride):
    layer = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False)
    nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
    return layer


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv(cin, cout, 3, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = conv(cout, cout, 3, 1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


class Bottleneck(nn.Module):
    def __init__(self, cin, mid, stride):
        super().__init__()
        cout = 4 * mid
        self.conv1 = conv(cin, mid, 1, 1)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = conv(mid, mid, 3, stride)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = conv(mid, cout, 1, 1)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


# Blocks per stage, and whether they are bottlenecks (output 4x the stage's width).
ARCHS = {
    "resnet18": ([2, 2, 2, 2], False),
    "resnet34": ([3, 4, 6, 3], False),
    "resnet50": ([3, 4, 6, 3], True),
}


class ResNet(nn.Module):
    def __init__(self, arch, stem, width, in_channels):
        super().__init__()
        depths, bottleneck = ARCHS[arch]
        if stem == "imagenet":
            self.stem = nn.Sequential(
                conv(in_channels, width, 7, 2), nn.BatchNorm2d(width), nn.ReLU(),
                nn.MaxPool2d(3, 2, 1))
        else:
            self.stem = nn.Sequential(conv(in_channels, width, 3, 1), nn.BatchNorm2d(width),
                                      nn.ReLU())
        blocks, cin = [], width
        for stage, depth in enumerate(depths):
            mid = width << stage
            for i in range(depth):
                stride = 2 if stage > 0 and i == 0 else 1
                if bottleneck:
                    blocks.append(Bottleneck(cin, mid, stride))
                    cin = 4 * mid
                else:
                    blocks.append(BasicBlock(cin, mid, stride))
                    cin = mid
        self.blocks = nn.Sequential(*blocks)
        self.feature_dim = cin

    def forward(self, x):
        return self.blocks(self.stem(x)).mean(dim=(2, 3))


def projection(features, out=128):
    return nn.Sequential(
        nn.Linear(features, features), nn.BatchNorm1d(features), nn.ReLU(), nn.Linear(features, out)
    )


EXCLUDED = -1e9


def log_prob_excluding_self(z, temperature):
    logits = z @ z.t() / temperature
    eye = torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
    return F.log_softmax(logits.masked_fill(eye, EXCLUDED), dim=1)


def nt_xent(z1, z2, temperature):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    log_prob = log_prob_excluding_self(z, temperature)
    partner = (torch.arange(2 * n, device=z.device) + n) % (2 * n)
    return -log_prob.gather(1, partner[:, None]).mean()


def sup_con(z, positives, temperature):
    m = z.shape[0]
    log_prob = log_prob_excluding_self(F.normalize(z, dim=1), temperature)
    positives = positives * (1 - torch.eye(m, device=z.device))
    count = positives.sum(1).clamp_min(1.0)
    return -((positives * log_prob).sum(1) / count).mean()


def components(neighbours):
    parent = list(range(len(neighbours)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in enumerate(neighbours):
        parent[find(i)] = find(j)
    return [find(i) for i in range(len(neighbours))]


def weak_label_mask(v):
    """Ones where two rows share a component of the 1-NN graph (as selfsup_weaklabel)."""
    e = v.detach()
    n = e.shape[0]
    similarity = e @ e.t() - 2 * torch.eye(n, device=e.device)
    labels = torch.tensor(components(similarity.argmax(1).tolist()), device=e.device)
    return (labels[:, None] == labels[None, :]).float()


class SimCLR(nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.head = projection(self.backbone.feature_dim)

    def loss(self, x1, x2):
        return nt_xent(self.head(self.backbone(x1)), self.head(self.backbone(x2)), 0.2)


class WCL(nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.instance_head = projection(self.backbone.feature_dim)
        self.graph_head = projection(self.backbone.feature_dim)

    def loss(self, x1, x2):
        h1, h2 = self.backbone(x1), self.backbone(x2)
        nce = nt_xent(self.instance_head(h1), self.instance_head(h2), 0.1)
        v1 = F.normalize(self.graph_head(h1), dim=1)
        v2 = F.normalize(self.graph_head(h2), dim=1)
        mask1, mask2 = weak_label_mask(v1), weak_label_mask(v2)
        swap = 0.5 * (sup_con(v1, mask2, 0.1) + sup_con(v2, mask1, 0.1))
        return nce + swap


METHODS = {"simclr": SimCLR, "wcl": WCL}


def measure(method, width, args, device):
    torch.manual_seed(0)
    backbone = ResNet(args.arch, args.stem, width, args.channels)
    model = METHODS[method](backbone).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, weight_decay=5e-4)
    generator = torch.Generator().manual_seed(0)
    shape = (args.batch_size, args.channels, args.image_size, args.image_size)
    views = [torch.rand(shape, generator=generator) * 2 - 1 for _ in range(2)]
    step_seconds = []
    for step in range(args.warmup_steps + args.steps):
        started = time.perf_counter()
        x1, x2 = (v.to(device) for v in views)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.autocast == "bf16"):
            loss = model.loss(x1, x2)
        if not torch.isfinite(loss).item():
            raise SystemExit(f"{method} width {width}: non-finite loss {loss.item()}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        if not all(torch.isfinite(g).all().item() for g in grads):
            raise SystemExit(f"{method} width {width}: non-finite gradient")
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= args.warmup_steps:
            step_seconds.append(time.perf_counter() - started)
        print(f"pytorch {method} width {width} step {step}: {time.perf_counter() - started:.3f} s",
              file=sys.stderr)
    median = statistics.median(step_seconds)
    return {
        "method": method,
        "width": width,
        "batch_size": args.batch_size,
        "params": sum(p.numel() for p in model.parameters()),
        "images_per_sec": args.batch_size / median,
        "median_step_seconds": median,
        "step_seconds": step_seconds,
        # Peak resident set of this process so far (kilobytes on Linux).
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", default="simclr,wcl")
    parser.add_argument("--arch", default="resnet18", choices=sorted(ARCHS))
    parser.add_argument("--stem", default="small", choices=["small", "imagenet"])
    parser.add_argument("--widths", default="16,32")
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--autocast", choices=["off", "bf16"], default="off",
                        help="bf16: the forward pass under torch.autocast (a second figure; "
                             "selfsup trains in f32)")
    parser.add_argument("--json", help="write the JSON here instead of stdout")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        # cuDNN's fastest algorithms and TF32 tensor cores for f32, as cubecl's autotune picks
        # TF32 kernels whenever they win (docs/gpu.md: timing fairly).
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    results = [
        measure(method, int(width), args, device)
        for method in args.methods.split(",")
        for width in args.widths.split(",")
    ]
    document = {
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "autocast": args.autocast,
        "results": results,
    }
    text = json.dumps(document, indent=2)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
