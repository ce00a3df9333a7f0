//! The networks' parameters and how they are obtained.

pub mod weights;
