//! Named colors for figure text and lines, chosen to read well on a white background.

/// Black: main captions (such as the true label) and titles.
pub const BLACK: [u8; 3] = [0, 0, 0];

/// White: the figure background.
pub const WHITE: [u8; 3] = [255, 255, 255];

/// A dark tan for secondary captions (such as the predicted label); dark enough to stay
/// legible on white (contrast about 4:1) while clearly beige next to black.
pub const BEIGE: [u8; 3] = [160, 120, 60];

/// Dark gray: row labels, colorbar outlines and ticks.
pub const GRAY: [u8; 3] = [70, 70, 70];
