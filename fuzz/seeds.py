#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: small safetensors files into DIR/weights and
small images in every format the crate decodes into DIR/image. The weights seeds and the PNG,
BMP, PPM and PGM seeds need only the standard library; the JPEG, GIF, TIFF, WebP, ICO, TGA and
QOI seeds are written when Pillow is installed."""

import json
import struct
import sys
import zlib
from pathlib import Path


def safetensors(tensors, metadata=None):
    """The bytes of a safetensors file of (name, dtype, shape, data bytes)."""
    header, offset, blobs = {}, 0, []
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def weights_seeds():
    f32 = struct.pack("<6f", 0.5, -1.0, 2.0, 0.0, 1e-3, 3.5)
    return {
        "f32.safetensors": safetensors(
            [("features.0.weight", "F32", [2, 3], f32), ("features.0.bias", "F32", [2], f32[:8])],
            {"format": "pt"},
        ),
        "f16.safetensors": safetensors([("w", "F16", [2, 2], struct.pack("<4e", 1, -2, 0.5, 65504))]),
        "bf16.safetensors": safetensors([("w", "BF16", [3], bytes([0x80, 0x3F, 0x00, 0xC0, 0x00, 0x00]))]),
        "f64.safetensors": safetensors([("w", "F64", [2], struct.pack("<2d", 1e300, -0.25))]),
        "i64.safetensors": safetensors([("w", "I64", [1], struct.pack("<q", 7))]),
        "nan.safetensors": safetensors([("w", "F32", [2], struct.pack("<2f", float("nan"), float("inf")))]),
        "scalar.safetensors": safetensors([("s", "F32", [], struct.pack("<f", 1.0)), ("e", "F32", [0], b"")]),
        "empty.safetensors": safetensors([]),
        "truncated.safetensors": safetensors([("w", "F32", [4], struct.pack("<4f", 1, 2, 3, 4))])[:-5],
    }


def rgb_pixels(w, h):
    return bytes(v for y in range(h) for x in range(w) for v in (x * 40 % 256, y * 60 % 256, (x + y) * 25 % 256))


def png(w, h, color_type=2, depth=8):
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    row = w * channels * depth // 8
    raw = b"".join(b"\0" + bytes((x * 37 + y * 11) % 256 for x in range(row)) for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def bmp(w, h):
    row = (w * 3 + 3) // 4 * 4
    pixels = b"".join(rgb_pixels(w, 1)[::-1].ljust(row, b"\0") for _ in range(h))
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return header + info + pixels


def image_seeds():
    seeds = {
        "rgb.png": png(5, 4),
        "gray16.png": png(3, 3, color_type=0, depth=16),
        "rgba.png": png(4, 2, color_type=6),
        "rgb.bmp": bmp(5, 3),
        "rgb.ppm": b"P6 4 3 255\n" + rgb_pixels(4, 3),
        "gray.pgm": b"P2\n3 2\n255\n0 128 255\n10 20 30\n",
    }
    try:
        from PIL import Image
    except ImportError:
        print("Pillow is not installed: writing PNG, BMP and PNM image seeds only", file=sys.stderr)
        return seeds
    import io

    rgb = Image.frombytes("RGB", (6, 5), rgb_pixels(6, 5))
    for name, image, fmt, options in [
        ("rgb.jpg", rgb, "JPEG", {"quality": 90}),
        ("progressive.jpg", rgb, "JPEG", {"progressive": True}),
        ("gray.jpg", rgb.convert("L"), "JPEG", {}),
        ("cmyk.jpg", rgb.convert("CMYK"), "JPEG", {}),
        ("palette.gif", rgb.convert("P"), "GIF", {}),
        ("rgb.tiff", rgb, "TIFF", {}),
        ("lossy.webp", rgb, "WEBP", {"quality": 50}),
        ("lossless.webp", rgb, "WEBP", {"lossless": True}),
        ("icon.ico", rgb, "ICO", {"sizes": [(6, 5)]}),
        ("rgb.tga", rgb, "TGA", {}),
        ("rgba.qoi", rgb.convert("RGBA"), "QOI", {}),
    ]:
        out = io.BytesIO()
        try:
            image.save(out, fmt, **options)
        except (KeyError, OSError, ValueError) as e:
            print(f"skipping {name}: {e}", file=sys.stderr)
            continue
        seeds[name] = out.getvalue()
    return seeds


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")
    for target, seeds in [("weights", weights_seeds()), ("image", image_seeds())]:
        folder = root / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (folder / name).write_bytes(data)
        print(f"{len(seeds)} seeds in {folder}")


if __name__ == "__main__":
    main()
