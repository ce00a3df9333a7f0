// Starting the engine: WebGPU, the wasm module, the class names and SqueezeNet's weights, all
// fetched from beside the page. Jobs run one at a time.

import init, { DreamSettings, Lens, Photo } from '../pkg/netlens_web.js';
import { decode, pngOf } from './images.js';

export { DreamSettings, Photo };

/** Thrown when the browser has no usable WebGPU; the page then says how to enable it. */
export class NoWebGpu extends Error {}

/** Fetches a file beside the page as bytes, naming it on failure. */
export async function fetchBytes(path) {
  const response = await fetch(new URL(path, location.href));
  if (!response.ok) {
    throw new Error(`cannot fetch ${path}: HTTP ${response.status} ${response.statusText}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

/** Opens WebGPU and loads SqueezeNet 1.1: resolves to a Lens. */
export async function start() {
  if (!('gpu' in navigator)) {
    throw new NoWebGpu(window.isSecureContext
      ? 'navigator.gpu is missing: WebGPU is turned off or not supported here.'
      : 'navigator.gpu is missing: this page is not a secure context (serve it from 127.0.0.1, localhost or https).');
  }
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) {
    throw new NoWebGpu('navigator.gpu.requestAdapter() found no adapter: WebGPU is present but turned off for this GPU or driver.');
  }
  await init();
  const classes = new TextDecoder().decode(await fetchBytes('data/imagenet_classes.txt'));
  const lens = await Lens.open(classes);
  lens.loadModel('squeezenet', await fetchBytes('weights/squeezenet1_1.safetensors'), 'squeezenet1_1.safetensors');
  return lens;
}

let queue = Promise.resolve();

/** Runs `job` after every job queued before it; resolves or rejects as it does. */
export function serialized(job) {
  const run = queue.then(job);
  queue = run.catch(() => {});
  return run;
}

/** A Photo from an image file (a Blob). */
export async function photoOf(blob) {
  const { rgba, width, height } = await decode(blob);
  return new Photo(rgba, width, height);
}

/** The PNG file of a canvas, and the Photo decoded back from it: what a visitor downloads and
 *  what the network makes of it. */
export async function pngRoundTrip(canvas) {
  const png = await pngOf(canvas);
  return { png, photo: await photoOf(png) };
}
