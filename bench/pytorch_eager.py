"""PyTorch eager on the GPU, timed as `netlens bench` times netlens: SqueezeNet 1.1 and VGG16
forward and forward + input gradient (weights frozen) at batch 1 and 25, fp32 with TF32 off and
on, and class-visualization steps (jitter roll, forward, backward to the image, L2 penalty,
normalized step, clamp, a Gaussian blur every 10 steps) at batch 1, 224 x 224.

Untrained weights (timings do not depend on the values). Writes JSON to --out.
Usage: python3 bench/pytorch_eager.py --out pytorch.json [--reps 20] [--dream-steps 100]
"""

import argparse
import json
import statistics
import time

import torch
import torchvision

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
# netlens's defaults per model: (learning rate, L2 weight); blur every 10 steps with sigma 0.5,
# jitter up to 16 pixels.
DREAM = {"squeezenet": (25.0, 1e-3), "vgg16": (10.0, 5e-3)}


def model(name, device):
    net = {
        "squeezenet": torchvision.models.squeezenet1_1,
        "vgg16": torchvision.models.vgg16,
    }[name](weights=None)
    net = net.to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def median_ms(run, warmup, reps):
    """Median wall-clock milliseconds of run(), synchronized, after warmup runs."""
    times = []
    for i in range(warmup + reps):
        torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        torch.cuda.synchronize()
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def passes(net, batch, device, warmup, reps):
    x = torch.randn(batch, 3, 224, 224, device=device)
    seed = torch.zeros(batch, 1000, device=device)
    seed[:, 1] = 1.0

    def forward():
        with torch.no_grad():
            net(x)

    def gradient():
        xg = x.detach().requires_grad_(True)
        net(xg).backward(seed)
        return xg.grad

    return {
        "forward_ms": median_ms(forward, warmup, reps),
        "forward_backward_ms": median_ms(gradient, warmup, reps),
    }


def blur(x, sigma=0.5):
    radius = int(4 * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = torch.nn.functional.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), padding=(0, radius), groups=c)
    return torch.nn.functional.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), padding=(radius, 0), groups=c)


def dream_loop_ms(net, name, steps, device, reps):
    lr, l2 = DREAM[name]
    low = ((0 - MEAN) / STD).to(device)
    high = ((1 - MEAN) / STD).to(device)
    gen = torch.Generator().manual_seed(0)
    shifts = torch.randint(-16, 17, (steps, 2), generator=gen).tolist()

    def loop():
        img = torch.randn(1, 3, 224, 224, device=device)
        for s, (oy, ox) in enumerate(shifts):
            x = torch.roll(img, (oy, ox), (2, 3)).requires_grad_(True)
            net(x)[0, 1].backward()
            g = torch.roll(x.grad, (-oy, -ox), (2, 3)) - 2 * l2 * img
            img = img + lr * g / g.norm().clamp_min(1e-12)
            img = torch.maximum(torch.minimum(img, high), low)
            if (s + 1) % 10 == 0:
                img = blur(img)
        return img

    return median_ms(loop, 1, reps)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--dream-steps", type=int, default=100)
    ap.add_argument("--dream-reps", type=int, default=3)
    args = ap.parse_args()
    if args.reps < 1 or args.dream_reps < 1 or args.dream_steps < 1:
        ap.error("--reps, --dream-reps and --dream-steps need at least 1")
    device = torch.device("cuda")
    results = {
        "device": torch.cuda.get_device_name(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "passes": [],
        "dream": [],
    }
    for name in ("squeezenet", "vgg16"):
        net = model(name, device)
        for tf32 in (False, True):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
            for batch in (1, 25):
                r = passes(net, batch, device, args.warmup, args.reps)
                results["passes"].append({"model": name, "tf32": tf32, "batch": batch, **r})
                print(name, "tf32" if tf32 else "fp32", "batch", batch, r, flush=True)
            ms = dream_loop_ms(net, name, args.dream_steps, device, args.dream_reps)
            results["dream"].append(
                {"model": name, "tf32": tf32, "steps": args.dream_steps, "loop_ms": ms,
                 "ms_per_step": ms / args.dream_steps}
            )
            print(name, "tf32" if tf32 else "fp32", "dream", ms, "ms", flush=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
