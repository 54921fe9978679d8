"""torchvision's side of `selfsup bench --sections augment-jpeg --compare-torchvision`.

The same JPEG files and the same SimCLR / WCL ImageNet view recipe as selfsup's side: for each
file, PIL decodes it once (`Image.open(...).convert("RGB")`), then two views are drawn with
torchvision v2 transforms:

    RandomResizedCrop(224, scale=(0.08, 1.0), antialias=True), RandomHorizontalFlip(),
    RandomApply([ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8), RandomGrayscale(p=0.2),
    RandomApply([blur], p=0.5), ToImage(), ToDtype(float32, scale=True), Normalize(ImageNet)

`--blur torchvision` is v2.GaussianBlur(23, sigma=(0.1, 2.0)) (a full k x k convolution on a
tensor); `--blur pil` is PIL's ImageFilter.GaussianBlur with the radius drawn from the same
range, which is separable and faster. `--output u8` stops at `ToImage()` (uint8 tensors, to be
normalised on the GPU, as selfsup's `data.batch_dtype = "u8"`). `--threads N` runs N worker processes of one thread each
(as a DataLoader with num_workers=N and torch.set_num_threads(1) in each), the files in the
page cache. Prints one JSON object: views/s and versions.
"""
import argparse
import json
import multiprocessing
import os
import random
import time

SIZE = 224
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def transform(blur, output):
    import torch
    from PIL import ImageFilter
    from torchvision.transforms import v2

    class PilBlur(torch.nn.Module):
        def forward(self, image):
            return image.filter(ImageFilter.GaussianBlur(radius=random.uniform(0.1, 2.0)))

    blurring = v2.GaussianBlur(23, sigma=(0.1, 2.0)) if blur == "torchvision" else PilBlur()
    steps = [
        v2.RandomResizedCrop(SIZE, scale=(0.08, 1.0), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8),
        v2.RandomGrayscale(p=0.2),
        v2.RandomApply([blurring], p=0.5),
        v2.ToImage(),
    ]
    if output == "f32":
        steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)]
    return v2.Compose(steps)


def worker(job):
    paths, blur, output, seed = job
    import torch
    from PIL import Image

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    random.seed(seed)
    views = transform(blur, output)
    for path in paths:
        image = Image.open(path).convert("RGB")
        first, second = views(image), views(image)
        assert first.shape == (3, SIZE, SIZE) and second.shape == (3, SIZE, SIZE)
    return 2 * len(paths)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--blur", choices=["torchvision", "pil"], default="torchvision")
    parser.add_argument("--output", choices=["f32", "u8"], default="f32")
    args = parser.parse_args()

    import PIL
    import torch
    import torchvision

    paths = sorted(
        os.path.join(args.dir, name) for name in os.listdir(args.dir) if name.endswith(".jpg")
    )
    shards = [paths[i :: args.threads] for i in range(args.threads)]
    with multiprocessing.get_context("fork").Pool(args.threads) as pool:
        # One untimed pass: workers start, files enter the page cache.
        pool.map(worker, [(shard, args.blur, args.output, i) for i, shard in enumerate(shards)])
        started = time.perf_counter()
        views = 0
        for round_ in range(args.rounds):
            jobs = [
                (shard, args.blur, args.output, 1000 * (round_ + 1) + i)
                for i, shard in enumerate(shards)
            ]
            views += sum(pool.map(worker, jobs))
        seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "threads": args.threads,
                "blur": args.blur,
                "output": args.output,
                "files": len(paths),
                "views": views,
                "seconds": seconds,
                "views_per_sec": views / seconds,
                "torch_version": torch.__version__,
                "torchvision_version": torchvision.__version__,
                "pil_version": PIL.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
