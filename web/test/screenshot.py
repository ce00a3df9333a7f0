#!/usr/bin/env python3
"""Takes the README's screenshot of the built page (web/dist) in headless Chromium: the hay photo
classified, its Grad-CAM map over it, the hay made a stingray, and a short class visualization.

Drives chromedriver through the WebDriver protocol (standard library only) and writes a PNG:
    python3 web/test/screenshot.py assets/web-page.png
"""

import argparse
import base64
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
serve = __import__("run-page-jobs").serve

# Clicks through the page, waiting after each click until no button is disabled (a job ended).
SCRIPT = """
const done = arguments[arguments.length - 1];
const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const errors = () => [...document.querySelectorAll('.error')].map((e) => e.textContent).filter((t) => t);
const idle = async () => {
  await sleep(300);
  while (document.querySelector('main button:disabled') || !$('top5').children.length) {
    if (errors().length) throw new Error(errors().join('; '));
    await sleep(200);
  }
};
(async () => {
  while ($('app').hidden || !document.querySelector('#gallery img')) {
    if (!$('no-webgpu').hidden || $('status').classList.contains('error')) throw new Error($('status').textContent);
    await sleep(200);
  }
  await idle();
  document.querySelector('#gallery img[src$="hay.jpg"]').click();
  await idle();
  $('saliency-method').value = 'gradcam';
  $('saliency-run').click();
  await idle();
  $('fool-run').click();
  await idle();
  $('dream-steps').value = arguments[0];
  $('dream-run').click();
  await idle();
  done(errors().length ? 'page errors: ' + errors().join('; ') : 'ok');
})().catch((e) => done('failed: ' + e.message));
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=900) as response:
        return json.load(response)["value"]


def main():
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--dist", default=here.parent / "dist", type=Path)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="chromedriver")
    parser.add_argument("--dream-steps", default=30, type=int)
    args = parser.parse_args()

    server = serve(args.dist, args.dist)
    page = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    port = free_port()
    driver = subprocess.Popen([args.chromedriver, f"--port={port}"], stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                call(base, "GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        options = {"binary": args.chromium, "args": [
            "--headless=new", "--no-sandbox", "--enable-unsafe-webgpu", "--hide-scrollbars",
            "--window-size=1040,2460", "--force-device-scale-factor=0.5"]}
        session = call(base, "POST", "/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options}}})["sessionId"]
        s = f"/session/{session}"
        call(base, "POST", f"{s}/timeouts", {"script": 900_000})
        call(base, "POST", f"{s}/url", {"url": page})
        outcome = call(base, "POST", f"{s}/execute/async", {"script": SCRIPT, "args": [args.dream_steps]})
        if outcome != "ok":
            sys.exit(f"screenshot.py: {outcome}")
        args.out.write_bytes(base64.b64decode(call(base, "GET", f"{s}/screenshot")))
        call(base, "DELETE", s)
        print(f"wrote {args.out}")
    finally:
        driver.terminate()
        server.shutdown()


if __name__ == "__main__":
    main()
