// One job from the page's URL, reported on the console for scripts and headless browsers:
//   index.html?job=classify|saliency|fool|dream&image=URL
//   saliency: method= (vanilla, smoothgrad, gradcam, guided; default vanilla), target= (default
//   the top class), samples= (SmoothGrad, default 25); fool: target= (an index or a name);
//   dream: class=, steps= (default 100).
// When the job ends the page logs exactly one line `NETLENS_RESULT {json}`; an error logs
// `NETLENS_RESULT {"error": "..."}`.

import { DreamSettings, start, fetchBytes, photoOf, pngRoundTrip } from './engine.js';
import { canvasOf } from './images.js';

const RESULT = 'NETLENS_RESULT';

/** The URL parameter `name`, or an error saying it is missing. */
function required(params, name, job) {
  const value = params.get(name);
  if (value === null || value.trim() === '') {
    throw new Error(`job=${job} needs ${name}=`);
  }
  return value;
}

/** A positive integer parameter, or `fallback` when absent. */
function count(params, name, fallback) {
  const value = params.get(name);
  if (value === null) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new Error(`${name}=${value} is not a positive whole number`);
  }
  return Number(value);
}

/** The photo at the URL parameter `image`, with the URL. */
async function photoAt(params, job) {
  const url = required(params, 'image', job);
  return { url, photo: await photoOf(new Blob([await fetchBytes(url)])) };
}

async function top1(lens, photo) {
  return JSON.parse(await lens.classify(photo))[0];
}

const jobs = {
  async classify(lens, params) {
    const { url, photo } = await photoAt(params, 'classify');
    return { job: 'classify', image: url, top5: JSON.parse(await lens.classify(photo)) };
  },

  async saliency(lens, params) {
    const { url, photo } = await photoAt(params, 'saliency');
    const method = params.get('method') || 'vanilla';
    const target = params.get('target');
    const samples = params.has('samples') ? count(params, 'samples') : undefined;
    const map = await lens.saliency(photo, method, target === null ? undefined : lens.resolveClass(target), samples);
    return { job: 'saliency', image: url, method, target: map.target, map_max: map.max, map_mean: map.mean };
  },

  async fool(lens, params) {
    const { url, photo } = await photoAt(params, 'fool');
    const target = lens.resolveClass(required(params, 'target', 'fool'));
    const fooled = await lens.fool(photo, target, 1.0, 100);
    const { photo: png } = await pngRoundTrip(canvasOf(fooled.image(), 224));
    return {
      job: 'fool', image: url, target, reached: fooled.reached, iterations: fooled.iterations,
      png_top1: await top1(lens, png),
    };
  },

  async dream(lens, params) {
    const cls = lens.resolveClass(required(params, 'class', 'dream'));
    const settings = new DreamSettings(lens);
    settings.steps = count(params, 'steps', settings.steps);
    settings.every = 0;
    const steps = settings.steps;
    const result = await lens.dream(cls, settings);
    const { photo: png } = await pngRoundTrip(canvasOf(result.image(), 224));
    return { job: 'dream', class: cls, steps, prob: await lens.probability(png, cls) };
  },
};

/** Runs the job the URL names and logs its one result line. */
export async function runUrlJob(params) {
  const log = document.getElementById('job-log');
  log.hidden = false;
  let result;
  try {
    const name = params.get('job');
    const job = jobs[name];
    if (!job) {
      throw new Error(`unknown job \`${name}\`: choose classify, saliency, fool or dream`);
    }
    const lens = await start();
    log.textContent = `${name} on ${lens.adapter()}…`;
    const t = performance.now();
    result = await job(lens, params);
    console.log(`netlens: ${name} took ${(performance.now() - t).toFixed(0)} ms on ${lens.adapter()}`);
  } catch (e) {
    result = { error: String(e && e.message ? e.message : e) };
  }
  const line = `${RESULT} ${JSON.stringify(result)}`;
  log.textContent = line;
  console.log(line);
}
