//! Kernel BTF loading and the kfunc/struct compatibility checker
