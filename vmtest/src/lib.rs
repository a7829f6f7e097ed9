//! Boot kernels under QEMU and run tests inside them
