//! Progress of the long loops, reported to a JavaScript callback `(done, total)`.

use std::cell::Cell;

use js_sys::Function;
use wasm_bindgen::JsValue;

/// Counts steps and calls the page's callback with `(done, total)` after every change.
pub struct Reporter {
    callback: Option<Function>,
    done: Cell<u64>,
    total: Cell<u64>,
}

impl Reporter {
    /// A reporter calling `callback` (none: counting only).
    pub fn new(callback: Option<Function>) -> Self {
        Self {
            callback,
            done: Cell::new(0),
            total: Cell::new(0),
        }
    }

    fn report(&self) {
        if let Some(f) = &self.callback {
            // A failing callback must not stop the GPU work; the page shows its own errors.
            let _ = f.call2(
                &JsValue::NULL,
                &JsValue::from_f64(self.done.get() as f64),
                &JsValue::from_f64(self.total.get() as f64),
            );
        }
    }
}

impl netlens::progress::Progress for Reporter {
    fn inc(&self, delta: u64) {
        self.done.set(self.done.get() + delta);
        self.report();
    }

    fn set_length(&self, len: u64) {
        self.total.set(len);
        self.report();
    }

    fn finish(&self) {
        self.done.set(self.total.get());
        self.report();
    }
}
