//! Zig packages: the `build.zig.zon` manifest and the package hash exactly as zig computes it.

pub mod hash;
pub mod publish;
pub mod zon;
