//! Numbers about maps: normalization, class means and Spearman rank correlation.

/// `map` divided by its largest value (a map that is all zero stays zero).
pub fn normalized(map: &[f32]) -> Vec<f32> {
    let max = map.iter().copied().fold(0.0f32, f32::max);
    if max > 0.0 {
        map.iter().map(|v| v / max).collect()
    } else {
        vec![0.0; map.len()]
    }
}

/// The mean of the max-normalized maps in `maps` (each `plane` values) at positions `members`.
pub fn mean_normalized(maps: &[f32], plane: usize, members: &[usize]) -> Vec<f32> {
    let mut mean = vec![0.0f32; plane];
    for &i in members {
        for (m, v) in mean
            .iter_mut()
            .zip(normalized(&maps[i * plane..(i + 1) * plane]))
        {
            *m += v / members.len() as f32;
        }
    }
    mean
}

/// Ranks 1..n of `values`, ties sharing the mean of their ranks.
pub fn ranks(values: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end (0-based) hold equal values: ranks start+1 ..= end.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Spearman's rank correlation of two equally long samples: Pearson's correlation of their
/// ranks (ties averaged). 0 when either sample is constant.
pub fn spearman(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "spearman: samples of different lengths");
    pearson(&ranks(a), &ranks(b))
}

/// Pearson's correlation; 0 when either sample is constant.
fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa > 0.0 && sbb > 0.0 {
        sab / (saa * sbb).sqrt()
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[10.0, 30.0, 20.0, 30.0]), [1.0, 3.5, 2.0, 3.5]);
        assert_eq!(ranks(&[0.0, 0.0, 0.0]), [2.0, 2.0, 2.0]);
    }

    #[test]
    fn spearman_matches_hand_computed_values() {
        // Monotone but not linear: rank correlation 1.
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 8.0, 27.0, 64.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // d = (0, -2, 1, 1): 1 - 6 * 6 / (4 * 15) = 0.4.
        let rho = spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 4.0, 2.0, 3.0]);
        assert!((rho - 0.4).abs() < 1e-12, "{rho}");
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), 0.0);
    }

    #[test]
    fn class_means_average_normalized_maps() {
        let maps = [
            0.0, 2.0, 4.0, /* */ 1.0, 1.0, 0.0, /* */ 9.0, 9.0, 9.0,
        ];
        assert_eq!(normalized(&maps[..3]), [0.0, 0.5, 1.0]);
        assert_eq!(mean_normalized(&maps, 3, &[0, 1]), [0.5, 0.75, 0.5]);
        assert_eq!(normalized(&[0.0, 0.0]), [0.0, 0.0]);
    }
}
