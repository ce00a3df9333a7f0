//! Everything random in a run, drawn on the host from the seed before the loop: the starting
//! noise and each step's jitter offsets (uniforms, not readbacks), the steps that blur, and each
//! step's random scale and rotation.

use super::kernels::{StepRow, transform_row};
use super::settings::{DreamSettings, Transforms};
use crate::hash::Rng;

/// Stream of the starting noise.
const NOISE_STREAM: u64 = 1;
/// Stream of the jitter offsets.
const JITTER_STREAM: u64 = 2;
/// Stream of the scales and rotations.
const TRANSFORM_STREAM: u64 = 3;

/// Streams of the starting noise of copies 1, 2, … of an objective (copy 0 draws [`noise`]).
const COPY_NOISE_STREAM: u64 = 1 << 32;

/// `len` standard normal values scaled by `std`, from `seed`.
pub fn noise(seed: u64, len: usize, std: f32) -> Vec<f32> {
    copy_noise(seed, 0, len, std)
}

/// The starting noise of copy `copy` of an objective: [`noise`] for copy 0, independent draws
/// for the others (so that diversity has different images to push apart).
pub fn copy_noise(seed: u64, copy: usize, len: usize, std: f32) -> Vec<f32> {
    let stream = match copy {
        0 => NOISE_STREAM,
        c => COPY_NOISE_STREAM + c as u64,
    };
    let mut rng = Rng::new(seed, stream);
    (0..len).map(|_| (rng.normal() as f32) * std).collect()
}

/// The schedule of `steps` steps for images with `settings`: row `s * batch + n` holds image n's
/// roll offsets at step s (uniform integers in [−jitter, jitter], from one pair of uniforms per
/// step shared by the batch) and whether it blurs after step s (after steps k, 2k, …, counting
/// from 1, when `blur` allows it).
pub fn schedule(seed: u64, steps: usize, settings: &[DreamSettings], blur: bool) -> Vec<StepRow> {
    let mut rng = Rng::new(seed, JITTER_STREAM);
    let mut rows = Vec::with_capacity(steps * settings.len());
    for s in 0..steps {
        let (ux, uy) = (rng.uniform(), rng.uniform());
        for set in settings {
            let offset = |u: f64| {
                let j = set.jitter as i64;
                ((u * (2 * j + 1) as f64).floor() as i64).min(2 * j) as i32 - j as i32
            };
            let blurs =
                blur && set.blur_every > 0 && set.blur_sigma > 0.0 && (s + 1) % set.blur_every == 0;
            rows.push(StepRow {
                ox: offset(ux),
                oy: offset(uy),
                blur: blurs as i32,
                pad: 0,
            });
        }
    }
    rows
}

/// The transform rows (see [`transform_row`]) of `steps` steps for a batch of `batch`: row
/// `s * batch + n` scales image n at step s by a uniform factor in [1 − scale, 1 + scale] and
/// rotates it by a uniform angle in ±rotate degrees, one draw per step shared by the batch.
pub fn transforms(seed: u64, steps: usize, batch: usize, t: &Transforms) -> Vec<[f32; 4]> {
    let mut rng = Rng::new(seed, TRANSFORM_STREAM);
    let mut rows = Vec::with_capacity(steps * batch);
    for _ in 0..steps {
        let (us, ur) = (rng.uniform() as f32, rng.uniform() as f32);
        let row = transform_row(
            1.0 + t.scale * (2.0 * us - 1.0),
            t.rotate * (2.0 * ur - 1.0),
        );
        rows.extend(std::iter::repeat_n(row, batch));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_offsets_stay_within_jitter_and_blur_every_k() {
        let settings = [
            DreamSettings {
                jitter: 2,
                blur_every: 3,
                ..DreamSettings::default()
            },
            DreamSettings {
                jitter: 0,
                blur_every: 0,
                ..DreamSettings::default()
            },
        ];
        let rows = schedule(7, 300, &settings, true);
        let first: Vec<_> = rows.iter().step_by(2).collect();
        assert!(first.iter().all(|r| r.ox.abs() <= 2 && r.oy.abs() <= 2));
        // All five offsets occur.
        for v in -2..=2 {
            assert!(first.iter().any(|r| r.ox == v), "offset {v} never drawn");
        }
        assert!(
            rows.iter()
                .skip(1)
                .step_by(2)
                .all(|r| *r == StepRow::default())
        );
        let blurred: Vec<usize> = (0..300).filter(|&s| first[s].blur == 1).collect();
        assert_eq!(&blurred[..3], &[2, 5, 8]);
        assert_eq!(schedule(7, 300, &settings, true), rows);
        assert!(
            schedule(7, 300, &settings, false)
                .iter()
                .all(|r| r.blur == 0)
        );
    }

    #[test]
    fn noise_is_standard_normal_and_seeded() {
        let a = noise(3, 100_000, 1.0);
        let mean = a.iter().map(|&v| v as f64).sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / a.len() as f64;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.02,
            "{mean} {var}"
        );
        assert_eq!(noise(3, 10, 1.0), a[..10]);
        assert_ne!(noise(4, 10, 1.0), a[..10]);
    }

    #[test]
    fn transforms_stay_within_their_ranges() {
        let t = Transforms {
            scale: 0.1,
            rotate: 10.0,
        };
        let rows = transforms(1, 500, 2, &t);
        assert_eq!(rows.len(), 1000);
        let (mut angles, mut scales) = (Vec::new(), Vec::new());
        for pair in rows.chunks(2) {
            assert_eq!(pair[0], pair[1]);
            let [a, b, c, d] = pair[0].map(f64::from);
            // R(-θ) / s: a = d = cos θ / s, b = -c = sin θ / s.
            assert!((a - d).abs() < 1e-6 && (b + c).abs() < 1e-6);
            scales.push(1.0 / a.hypot(b));
            angles.push(b.atan2(a).to_degrees());
        }
        let range = |v: &[f64]| {
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            (lo, v.iter().copied().fold(f64::NEG_INFINITY, f64::max))
        };
        let (lo, hi) = range(&scales);
        assert!(
            lo >= 0.9 - 1e-6 && hi <= 1.1 + 1e-6 && lo < 0.91 && hi > 1.09,
            "{lo} {hi}"
        );
        let (lo, hi) = range(&angles);
        assert!(
            lo >= -10.0 - 1e-4 && hi <= 10.0 + 1e-4 && lo < -9.5 && hi > 9.5,
            "{lo} {hi}"
        );
        let off = transforms(1, 3, 1, &Transforms::default());
        assert!(off.iter().all(|r| *r == [1.0, 0.0, 0.0, 1.0]));
    }
}
