"""Checks `selfsup export` against PyTorch: loads RUN_DIR/export/resnet18.safetensors into
torchvision's ResNet (small stem, fc = Identity) with strict=True, computes the features of
Fashion-MNIST's training and test images in float64, and runs the same weighted kNN as
`selfsup eval knn` (k = 200, tau = 0.07, cosine). The top-1 printed should equal the run's
eval/knn.json. Needs torch, torchvision, safetensors and numpy:

    python scripts/check_torchvision_export.py runs/default-wcl [--data /usr/share/datasets/fashion-mnist]
"""
import argparse
import gzip
import json
import pathlib
import tomllib

import numpy as np
import torch
import torchvision
from safetensors.torch import load_file
from torchvision.models.resnet import BasicBlock


def small_stem_resnet18(width: int, in_channels: int) -> torch.nn.Module:
    """torchvision's resnet18 with the CIFAR-style stem; `width` other than 64 rebuilds the
    four stages with torchvision's own blocks at that width (the key names stay the same)."""
    model = torchvision.models.resnet18(weights=None)
    model.conv1 = torch.nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
    model.bn1 = torch.nn.BatchNorm2d(width)
    model.maxpool = torch.nn.Identity()
    model.inplanes = width
    model.layer1 = model._make_layer(BasicBlock, width, 2)
    model.layer2 = model._make_layer(BasicBlock, 2 * width, 2, stride=2)
    model.layer3 = model._make_layer(BasicBlock, 4 * width, 2, stride=2)
    model.layer4 = model._make_layer(BasicBlock, 8 * width, 2, stride=2)
    model.fc = torch.nn.Identity()
    return model


def idx(path: pathlib.Path) -> np.ndarray:
    data = gzip.open(path).read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def features(model, images, mean, std):
    out = []
    with torch.no_grad():
        for start in range(0, len(images), 1000):
            x = torch.from_numpy(images[start : start + 1000].copy()).double() / 255.0
            x = ((x - mean) / std).unsqueeze(1)
            out.append(model(x))
    f = torch.cat(out)
    return f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=pathlib.Path)
    parser.add_argument("--data", type=pathlib.Path, default=pathlib.Path("/usr/share/datasets/fashion-mnist"))
    args = parser.parse_args()
    config = tomllib.loads((args.run / "config.toml").read_text())
    width = config["model"]["width"]
    model = small_stem_resnet18(width, 1).double().eval()
    state = load_file(args.run / "export" / "resnet18.safetensors")
    model.load_state_dict(state, strict=True)
    print(f"strict load: {len(state)} tensors, width {width}")

    train = idx(args.data / "train-images-idx3-ubyte.gz")
    train_labels = torch.from_numpy(idx(args.data / "train-labels-idx1-ubyte.gz").astype(np.int64))
    test = idx(args.data / "t10k-images-idx3-ubyte.gz")
    test_labels = torch.from_numpy(idx(args.data / "t10k-labels-idx1-ubyte.gz").astype(np.int64))
    pixels = train.astype(np.float64) / 255.0
    mean, std = pixels.mean(), pixels.std()
    train_f = features(model, train, mean, std)
    test_f = features(model, test, mean, std)
    k, tau, classes = 200, 0.07, 10
    hits = 0
    for start in range(0, len(test_f), 500):
        sim = test_f[start : start + 500] @ train_f.T
        top, index = sim.topk(k, dim=1)
        votes = torch.zeros(len(top), classes, dtype=torch.float64)
        votes.scatter_add_(1, train_labels[index], (top / tau).exp())
        hits += (votes.argmax(1) == test_labels[start : start + 500]).sum().item()
    top1 = hits / len(test_f)
    report = args.run / "eval" / "knn.json"
    ours = json.loads(report.read_text())["top1"] if report.exists() else None
    print(f"torchvision kNN top-1 {100 * top1:.2f}% | selfsup eval knn {100 * ours:.2f}%" if ours is not None else f"torchvision kNN top-1 {100 * top1:.2f}%")


main()
