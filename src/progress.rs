//! How long loops report their progress: a small observer the caller implements (a terminal
//! bar, a web page's progress element) or [`Silent`].

/// Receives the progress of a long loop. Every method has a default that does nothing, so an
/// implementation overrides only what it shows. The names follow the usual progress-bar
/// vocabulary: the loop sets its length, then advances.
pub trait Progress {
    /// The loop will take `len` steps in all.
    fn set_length(&self, len: u64) {
        let _ = len;
    }
    /// `delta` more steps are done.
    fn inc(&self, delta: u64) {
        let _ = delta;
    }
    /// The loop is over; what it showed may stay.
    fn finish(&self) {}
    /// The loop is over; what it showed can go.
    fn finish_and_clear(&self) {
        self.finish();
    }
}

/// Progress that is not shown.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {}
