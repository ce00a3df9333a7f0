// Decoding photos with the browser, drawing RGBA pixels, and PNG files.

/** Decodes an image file (a Blob) to {rgba, width, height}: the decoded pixels as they are, with
 *  no color space conversion and no premultiplied alpha. */
export async function decode(blob) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, {
      colorSpaceConversion: 'none',
      premultiplyAlpha: 'none',
      imageOrientation: 'from-image',
    });
  } catch (e) {
    throw new Error(`cannot decode the image (${blob.type || 'unknown type'}, ${blob.size} bytes): ${e.message}`);
  }
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = new Uint8Array(ctx.getImageData(0, 0, width, height).data.buffer);
  return { rgba, width, height };
}

/** Draws opaque RGBA pixels of a square `size`×`size` image on a canvas at (x, y). */
export function putPixels(canvas, rgba, size, x = 0, y = 0) {
  const image = new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.length), size, size);
  canvas.getContext('2d').putImageData(image, x, y);
}

/** A new canvas holding a square RGBA image. */
export function canvasOf(rgba, size) {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = size;
  putPixels(canvas, rgba, size);
  return canvas;
}

/** The canvas as a PNG file (a Blob). */
export function pngOf(canvas) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('cannot encode the PNG'))), 'image/png');
  });
}

/** Offers a Blob for download as `name`. */
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
