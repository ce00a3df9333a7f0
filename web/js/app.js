// The interactive page: pick a network and a photo, then classify it, draw its saliency maps,
// fool the network with it, or visualize a class. One job runs at a time; while it runs the
// buttons wait and the page stays responsive (every GPU wait is awaited).

import { DreamSettings, NoWebGpu, fetchBytes, photoOf, pngRoundTrip, serialized, start } from './engine.js';
import { canvasOf, download, pngOf, putPixels } from './images.js';

const SIZE = 224;
const $ = (id) => document.getElementById(id);

const state = {
  lens: null,
  photo: null, // { photo, name }
  heat: null, // the last saliency map in the hot colormap, RGBA
  pngs: new Map(), // canvas id -> the PNG checked for it, offered as is
};

function setStatus(element, text, isError = false) {
  element.textContent = text;
  element.classList.toggle('error', isError);
}

function message(e) {
  return String(e && e.message ? e.message : e);
}

/** Runs `job` after the others, with the action buttons disabled meanwhile; errors go to
 *  `errors` (an element). */
function act(errors, job) {
  const buttons = [...document.querySelectorAll('main button, main input, main select')];
  buttons.forEach((b) => { b.disabled = true; });
  return serialized(job)
    .catch((e) => setStatus(errors, message(e), true))
    .finally(() => buttons.forEach((b) => { b.disabled = false; }));
}

/** A progress callback `(done, total)` for a <progress> element. */
function progressOf(element) {
  element.value = 0;
  return (done, total) => {
    element.max = Math.max(total, 1);
    element.value = done;
  };
}

function className(index) {
  return $('class-names').options[index].value;
}

// --- photo --------------------------------------------------------------------------------

async function showTop5() {
  const top5 = JSON.parse(await state.lens.classify(state.photo.photo));
  const list = $('top5');
  list.replaceChildren(...top5.map((p) => {
    const item = document.createElement('li');
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${Math.round(120 * p.prob)}px`;
    item.append(`${p.name} ${(100 * p.prob).toFixed(1)} %`, bar);
    return item;
  }));
}

function usePhoto(blob, name) {
  return act($('photo-name'), async () => {
    setStatus($('photo-name'), `Decoding ${name}…`);
    const photo = await photoOf(blob);
    if (state.photo) state.photo.photo.free();
    state.photo = { photo, name };
    putPixels($('photo-crop'), photo.crop(), SIZE);
    setStatus($('photo-name'), `${name} (the 224×224 crop the network sees)`);
    await showTop5();
  });
}

async function setUpGallery() {
  const files = JSON.parse(new TextDecoder().decode(await fetchBytes('gallery/index.json')));
  const gallery = $('gallery');
  for (const file of files) {
    const img = document.createElement('img');
    img.src = `gallery/${file}`;
    img.alt = img.title = file.replace(/^n\d+_/, '').replace(/\.\w+$/, '').replaceAll('_', ' ');
    img.addEventListener('click', async () => {
      gallery.querySelectorAll('img').forEach((i) => i.classList.toggle('selected', i === img));
      await usePhoto(new Blob([await fetchBytes(img.getAttribute('src'))]), img.alt);
    });
    gallery.append(img);
  }
  const first = gallery.querySelector('img');
  if (first) first.click();
}

function setUpDrop() {
  const drop = $('drop');
  const take = (file) => {
    if (file) {
      $('gallery').querySelectorAll('img').forEach((i) => i.classList.remove('selected'));
      usePhoto(file, file.name);
    }
  };
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    take(e.dataTransfer.files[0]);
  });
  $('photo-file').addEventListener('change', (e) => take(e.target.files[0]));
}

// --- network ------------------------------------------------------------------------------

function setUpModels() {
  const status = $('model-status');
  const load = (label, bytes, kind, name) => act(status, async () => {
    setStatus(status, `Loading ${label}…`);
    state.lens.loadModel(kind, await bytes(), name);
    setStatus(status, `${label} loaded.`);
    resetDreamSettings();
    if (state.photo) await showTop5();
  });
  for (const radio of document.querySelectorAll('input[name=model]')) {
    radio.addEventListener('change', () => {
      if (radio.value === 'squeezenet') {
        load('SqueezeNet 1.1', () => fetchBytes('weights/squeezenet1_1.safetensors'), 'squeezenet',
          'squeezenet1_1.safetensors');
      } else if ($('vgg16-file').files[0]) {
        $('vgg16-file').dispatchEvent(new Event('change'));
      } else {
        setStatus(status, 'Choose the VGG16 safetensors file (torchvision’s vgg16 state_dict, 528 MB).');
      }
    });
  }
  $('vgg16-file').addEventListener('change', (e) => {
    const file = e.target.files[0];
    if (!file) return;
    document.querySelector('input[name=model][value=vgg16]').checked = true;
    load(`VGG16 from ${file.name}`, async () => new Uint8Array(await file.arrayBuffer()), 'vgg16', file.name);
  });
}

// --- saliency -----------------------------------------------------------------------------

function drawSaliency() {
  if (!state.heat) return;
  const canvas = $('saliency-canvas');
  const under = $('saliency-placement').value === 'under';
  canvas.width = SIZE;
  canvas.height = under ? 2 * SIZE : SIZE;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(canvasOf(state.heat.photo, SIZE), 0, 0);
  const heat = canvasOf(state.heat.map, SIZE);
  if (under) {
    ctx.drawImage(heat, 0, SIZE);
  } else {
    ctx.globalAlpha = Number($('saliency-opacity').value);
    ctx.drawImage(heat, 0, 0);
    ctx.globalAlpha = 1;
  }
  state.pngs.delete('saliency-canvas');
}

function setUpSaliency() {
  $('saliency-run').addEventListener('click', () => act($('saliency-caption'), async () => {
    const method = $('saliency-method');
    const query = $('saliency-class').value.trim();
    const target = query ? state.lens.resolveClass(query) : undefined;
    setStatus($('saliency-caption'), `Computing ${method.selectedOptions[0].text}…`);
    const map = await state.lens.saliency(state.photo.photo, method.value, target, undefined,
      progressOf($('saliency-progress')));
    state.heat = { photo: state.photo.photo.crop(), map: map.heat() };
    drawSaliency();
    setStatus($('saliency-caption'), `${method.selectedOptions[0].text} for ${className(map.target)} `
      + `on ${state.photo.name}; hot colormap from the map's minimum to its maximum (${map.max.toPrecision(3)}).`);
    map.free();
  }));
  for (const id of ['saliency-placement', 'saliency-opacity']) {
    $(id).addEventListener('input', drawSaliency);
  }
}

// --- fooling ------------------------------------------------------------------------------

function setUpFooling() {
  $('fool-run').addEventListener('click', () => act($('fool-summary'), async () => {
    const target = state.lens.resolveClass($('fool-target').value);
    const lr = Number($('fool-lr').value);
    const iters = Number($('fool-iters').value);
    setStatus($('fool-summary'), `Stepping ${state.photo.name} toward ${className(target)}…`);
    setStatus($('fool-png'), '');
    putPixels($('fool-original'), state.photo.photo.crop(), SIZE);
    const fooled = await state.lens.fool(state.photo.photo, target, lr, iters, progressOf($('fool-progress')));
    putPixels($('fool-fooled'), fooled.image(), SIZE);
    putPixels($('fool-difference'), fooled.difference(), SIZE);
    setStatus($('fool-summary'), fooled.summary);
    fooled.free();
    const { png, photo } = await pngRoundTrip($('fool-fooled'));
    state.pngs.set('fool-fooled', png);
    const top = JSON.parse(await state.lens.classify(photo))[0];
    const fools = top.index === target;
    setStatus($('fool-png'), `The downloadable 8-bit PNG is classified as ${top.name} (${(100 * top.prob).toFixed(1)} %): `
      + (fools ? 'it still fools the network.' : 'it no longer fools the network.'), !fools);
  }));
}

// --- class visualization ------------------------------------------------------------------

const dreamFields = {
  steps: 'dream-steps', every: 'dream-every', lr: 'dream-lr', l2: 'dream-l2', blur: 'dream-blur',
  blurEvery: 'dream-blur-every', jitter: 'dream-jitter',
};

function resetDreamSettings() {
  const defaults = new DreamSettings(state.lens);
  // Numbers held as f32 (lr, L2, blur) are shown at f32 precision: 0.001, not 0.0010000000474974513.
  for (const [key, id] of Object.entries(dreamFields)) $(id).value = Number(defaults[key].toPrecision(7));
  defaults.free();
}

function setUpDream() {
  $('dream-run').addEventListener('click', () => act($('dream-caption'), async () => {
    const cls = state.lens.resolveClass($('dream-class').value);
    const settings = new DreamSettings(state.lens);
    for (const [key, id] of Object.entries(dreamFields)) {
      const value = Number($(id).value);
      if ($(id).value.trim() === '' || !Number.isFinite(value) || value < 0) {
        throw new Error(`${$(id).closest('label').textContent.trim()}: ${$(id).value} is not a number >= 0`);
      }
      settings[key] = value;
    }
    const canvas = $('dream-canvas');
    const show = (image) => {
      putPixels(canvas, image.image(), SIZE);
      setStatus($('dream-caption'), `${className(cls)}, step ${image.step}: p = ${image.prob.toFixed(3)}`);
      image.free();
    };
    state.pngs.delete('dream-canvas');
    const progress = progressOf($('dream-progress'));
    const result = await ($('dream-start').value === 'photo'
      ? state.lens.dreamFrom(state.photo.photo, cls, settings, show, progress)
      : state.lens.dream(cls, settings, show, progress));
    putPixels(canvas, result.image(), SIZE);
    const { png, photo } = await pngRoundTrip(canvas);
    state.pngs.set('dream-canvas', png);
    const p = await state.lens.probability(photo, cls);
    photo.free();
    setStatus($('dream-caption'), `${className(cls)} after ${result.step} steps: `
      + `p = ${p.toFixed(3)} on the 8-bit PNG.`);
    result.free();
  }));
}

// --- downloads ----------------------------------------------------------------------------

function setUpDownloads() {
  for (const button of document.querySelectorAll('button.download')) {
    button.addEventListener('click', async () => {
      const id = button.dataset.canvas;
      const png = state.pngs.get(id) || await pngOf($(id));
      const photo = state.photo ? state.photo.name.replace(/\.\w+$/, '').replace(/\W+/g, '_') : 'image';
      download(png, `${photo}-${button.dataset.name}.png`);
    });
  }
}

/** Starts the interactive page. */
export async function runPage() {
  const status = $('status');
  try {
    state.lens = await start();
  } catch (e) {
    if (e instanceof NoWebGpu) {
      setStatus($('no-webgpu-reason'), e.message);
      $('no-webgpu').hidden = false;
      setStatus(status, 'WebGPU is not available.', true);
    } else {
      setStatus(status, `Cannot start: ${message(e)}`, true);
    }
    return;
  }
  setStatus(status, `WebGPU adapter: ${state.lens.adapter()}.`);
  $('class-names').replaceChildren(...state.lens.classNames().map((name) => new Option('', name)));
  resetDreamSettings();
  $('app').hidden = false;
  setUpModels();
  setUpDrop();
  setUpSaliency();
  setUpFooling();
  setUpDream();
  setUpDownloads();
  await setUpGallery();
}
