#!/usr/bin/env python3
"""Export torchvision's ImageNet weights to safetensors files netlens reads.

    python3 weights/export_weights.py                      # both models, into weights/
    python3 weights/export_weights.py --model vgg16 --out-dir ~/models

Needs PyTorch, torchvision and safetensors (`pip install torch torchvision safetensors`).
torchvision downloads the weights once into its cache; netlens itself never downloads anything.
The files keep torchvision's state-dict key names (`features.0.weight`, ...), in float32.
"""

import argparse
import hashlib
import pathlib

MODELS = {
    "squeezenet": ("squeezenet1_1", "SqueezeNet1_1_Weights"),
    "vgg16": ("vgg16", "VGG16_Weights"),
}


def export(model: str, out_dir: pathlib.Path) -> pathlib.Path:
    import torchvision
    from safetensors.torch import save_file

    builder_name, weights_enum = MODELS[model]
    weights = getattr(torchvision.models, weights_enum).IMAGENET1K_V1
    net = getattr(torchvision.models, builder_name)(weights=weights).eval()
    tensors = {k: v.detach().float().contiguous() for k, v in net.state_dict().items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{builder_name}.safetensors"
    tmp = path.with_suffix(".safetensors.tmp")
    save_file(tensors, str(tmp), metadata={"source": f"torchvision {builder_name} {weights}"})
    tmp.replace(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    print(f"{path}: {len(tensors)} tensors, sha256 {digest}")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=[*MODELS, "all"], default="all")
    parser.add_argument("--out-dir", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parent)
    args = parser.parse_args()
    for model in MODELS if args.model == "all" else [args.model]:
        export(model, args.out_dir)


if __name__ == "__main__":
    main()
