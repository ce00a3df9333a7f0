//! The command line's side of the crate: finding the data folder, reading input files within
//! limits, planning and writing outputs (PNG, NPY, JSON, CSV, run manifests), progress bars on
//! the terminal, and the saliency job. Behind the default `cli` feature; the engine itself does
//! no file or terminal I/O.

pub mod data;
pub mod input_file;
pub mod manifest;
pub mod output;
pub mod progress_bar;
pub mod saliency_job;
