//! Fooling images and adversarial attacks: images that look unchanged but that a network
//! classifies as a chosen class (the classic gradient-ascent fooling image), the standard
//! attacks (FGSM, PGD, MI-FGSM) under L∞ or L2 budgets in pixel levels, run in batches on the
//! GPU, checked after rounding to 8-bit PNGs, and carried from one network to another; and the
//! robust accuracy of a network under those and APGD-CE, Square and Carlini-Wagner L2, which
//! work in the pixel domain through [`oracle`].

pub mod apgd;
pub mod config;
pub mod cw;
pub mod figure;
pub mod kernels;
pub mod oracle;
pub mod pixels;
pub mod report;
pub mod robustness;
pub mod run;
pub mod square;
pub mod transfer;

pub use config::{AttackConfig, AttackMethod, Loss, Norm};
pub use kernels::Goal;
pub use run::{AttackOutcome, AttackRun, Attacker, RoundedCheck, Verdict, balanced_batch};
pub use transfer::{TransferCell, TransferModel, TransferTable, transfer};
