//! Progress bars on the terminal for long loops (hidden when asked to be quiet or when stderr is
//! not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

use crate::progress::Progress;

/// A bar over `len` steps labelled `message`; hidden when `quiet`.
pub fn bar(len: u64, message: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>12} [{bar:32}] {pos}/{len} {elapsed_precise} eta {eta}",
        )
        .expect("valid progress template")
        .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    bar
}

impl Progress for ProgressBar {
    fn set_length(&self, len: u64) {
        ProgressBar::set_length(self, len);
    }
    fn inc(&self, delta: u64) {
        ProgressBar::inc(self, delta);
    }
    fn finish(&self) {
        ProgressBar::finish(self);
    }
    fn finish_and_clear(&self) {
        ProgressBar::finish_and_clear(self);
    }
}
