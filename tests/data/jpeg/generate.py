#!/usr/bin/env python3
"""Writes the small JPEG fixtures in this folder and `expected.json`, the SHA-256 of the RGB bytes
that PIL decodes from each (`Image.open(f).convert("RGB")`, row-major, 3 bytes a pixel).

Needs Pillow (whose wheels bundle libjpeg-turbo) and the TurboJPEG library (`libturbojpeg.so.0`,
Debian package libturbojpeg0), which writes the layouts Pillow's encoder cannot: 4:4:0 and 4:1:1
subsampling, YCCK and arithmetic coding. Run it from anywhere: `python3 tests/data/jpeg/generate.py`.
"""

import ctypes
import hashlib
import io
import json
import math
from pathlib import Path

from PIL import Image, features

HERE = Path(__file__).resolve().parent


def pattern(width, height):
    """Smooth gradients crossed by sharp edges and a checkerboard corner, so that chroma
    upsampling and the IDCT both show in the decoded pixels."""
    data = bytearray()
    for y in range(height):
        for x in range(width):
            r = int(127.5 + 127.5 * math.sin(x * 0.21 + y * 0.05))
            g = (x * 255) // max(width - 1, 1)
            b = 230 if (x // 5 + y // 5) % 2 else 20
            if x + y < 12:
                r, g, b = (255, 0, 0) if (x + y) % 2 else (0, 0, 255)
            data += bytes((r, g, b))
    return Image.frombytes("RGB", (width, height), bytes(data))


def pil_save(image, **options):
    buf = io.BytesIO()
    image.save(buf, "JPEG", **options)
    return buf.getvalue()


# TurboJPEG 2.x API (also exported by 3.x).
TJ = ctypes.CDLL("libturbojpeg.so.0")
TJ.tjInitCompress.restype = ctypes.c_void_p
TJ.tjGetErrorStr2.restype = ctypes.c_char_p
TJPF_RGB, TJPF_CMYK = 0, 11
TJSAMP = {"444": 0, "422": 1, "420": 2, "gray": 3, "440": 4, "411": 5}
TJFLAG_ARITHMETIC = 32768


def tj_compress(pixels, width, height, pixel_format, subsamp, quality=90, flags=0):
    handle = ctypes.c_void_p(TJ.tjInitCompress())
    out = ctypes.POINTER(ctypes.c_ubyte)()
    size = ctypes.c_ulong(0)
    src = (ctypes.c_ubyte * len(pixels)).from_buffer_copy(pixels)
    rc = TJ.tjCompress2(handle, src, width, 0, height, pixel_format, ctypes.byref(out),
                        ctypes.byref(size), TJSAMP[subsamp], quality, flags)
    if rc != 0:
        raise RuntimeError(TJ.tjGetErrorStr2(handle).decode())
    data = ctypes.string_at(out, size.value)
    TJ.tjFree(out)
    TJ.tjDestroy(handle)
    return data


def cmyk_pixels(width, height):
    data = bytearray()
    for y in range(height):
        for x in range(width):
            data += bytes(((x * 9) % 256, (y * 11) % 256, ((x + y) * 5) % 256, (x * y) % 200))
    return bytes(data)


def fixtures():
    rgb = pattern(45, 31)
    big = pattern(67, 53)
    yield "gray_37x23.jpg", pil_save(pattern(37, 23).convert("L"), quality=85)
    for name, sub in [("444", "4:4:4"), ("422", "4:2:2"), ("420", "4:2:0")]:
        yield f"rgb{name}_45x31.jpg", pil_save(rgb, quality=90, subsampling=sub)
    raw = rgb.tobytes()
    for name in ["440", "411"]:
        yield f"rgb{name}_45x31.jpg", tj_compress(raw, 45, 31, TJPF_RGB, name)
    yield "progressive420_67x53.jpg", pil_save(big, quality=80, subsampling="4:2:0",
                                               progressive=True)
    yield "restart420_67x53.jpg", pil_save(big, quality=80, subsampling="4:2:0",
                                           restart_marker_blocks=3)
    yield "arithmetic422_45x31.jpg", tj_compress(raw, 45, 31, TJPF_RGB, "422",
                                                 flags=TJFLAG_ARITHMETIC)
    # Adobe CMYK as Pillow writes it, and Adobe YCCK as TurboJPEG writes CMYK pixels.
    cmyk = cmyk_pixels(29, 19)
    yield "cmyk_29x19.jpg", pil_save(Image.frombytes("CMYK", (29, 19), cmyk), quality=90)
    yield "ycck420_29x19.jpg", tj_compress(cmyk, 29, 19, TJPF_CMYK, "420")
    # Junk between the entropy-coded data and the end marker: libjpeg warns ("extraneous bytes
    # before marker") and PIL decodes the image all the same.
    clean = pil_save(rgb, quality=90, subsampling="4:2:0")
    assert clean.endswith(b"\xff\xd9")
    yield "extraneous_bytes_45x31.jpg", clean[:-2] + bytes(range(1, 101)) + clean[-2:]


def main():
    expected = {}
    for name, data in fixtures():
        (HERE / name).write_bytes(data)
        with Image.open(HERE / name) as image:
            mode = image.mode
            decoded = image.convert("RGB")
        expected[name] = {
            "width": decoded.width,
            "height": decoded.height,
            "mode": mode,
            "sha256": hashlib.sha256(decoded.tobytes()).hexdigest(),
        }
        print(f"{name}: {len(data)} bytes, {mode}")
    expected = {
        "decoder": f"Pillow {Image.__version__}, libjpeg-turbo "
                   f"{features.version('libjpeg_turbo')}, Image.open(f).convert('RGB')",
        "files": expected,
    }
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
