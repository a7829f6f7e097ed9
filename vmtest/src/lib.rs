//! crib-vmtest: boot kernels under QEMU (software emulation when KVM is not
//! usable) with the host root shared read-only over 9p, run named commands
//! inside, and bring back their exit status, output and any kernel splat.
//!
//! - [`Kernel`]: a bzImage (+ modules for stock Debian kernels, [`debian`]).
//! - [`Job`]: named commands with timeouts; one boot runs them in sequence.
//! - [`runner::boot`]: our own runner (generated initramfs, virtio-serial
//!   result port); [`vng::boot`]: the same job through virtme-ng.
//! - [`config`]: `vmtest.toml` targets and suite.
//! - [`report`]: results, summary table, JUnit XML.

pub mod accel;
pub mod cache;
pub mod config;
pub mod cpio;
pub mod debian;
pub mod error;
pub mod initramfs;
pub mod job;
pub mod kernel;
pub mod modules;
pub mod process;
pub mod protocol;
pub mod qemu;
pub mod report;
pub mod runner;
pub mod splat;
pub mod vng;

pub use error::{Error, Result};
pub use job::{GuestCommand, Job};
pub use kernel::Kernel;
pub use qemu::{Accel, Machine, TcgThread};
pub use report::{BootOutcome, BootReport, CommandResult, Status};
pub use runner::RunOptions;
