//! Engine selection: BTF feature detection and per-operation plans.

use crib_harness::engine::features::{btf_names, WANTED};
use crib_harness::engine::{candidates, EngineChoice, EngineKind, KernelFeatures, Plan};
use crib_harness::model::Operation;
use std::collections::HashSet;

/// A minimal BTF blob: header + empty type section + the given strings.
fn btf_with(names: &[&str]) -> Vec<u8> {
    let mut strs = vec![0u8];
    for n in names {
        strs.extend_from_slice(n.as_bytes());
        strs.push(0);
    }
    let mut b = vec![0x9f, 0xeb, 1, 0];
    for v in [24u32, 0, 0, 0, strs.len() as u32] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&strs);
    b
}

fn features(names: &[&str]) -> KernelFeatures {
    let blob = btf_with(names);
    let set: HashSet<&str> = btf_names(&blob).unwrap_or_else(|e| panic!("{e}"));
    KernelFeatures::from_names(&set)
}

#[test]
fn stock_kernel_uses_upstream_where_it_can_and_procfs_for_queues() {
    let f = features(&[
        "bpf_iter__task_file",
        "bpf_iter__task_vma",
        "bpf_task_from_vpid",
    ]);
    assert_eq!(
        candidates(Operation::Files, &f),
        [EngineKind::Upstream, EngineKind::Procfs]
    );
    assert_eq!(
        candidates(Operation::MemoryMap, &f),
        [EngineKind::Upstream, EngineKind::Procfs]
    );
    assert_eq!(candidates(Operation::Queues, &f), [EngineKind::Procfs]);
}

#[test]
fn patched_kernel_prefers_crib_everywhere() {
    let f = features(WANTED);
    for op in Operation::ALL {
        assert_eq!(candidates(op, &f)[0], EngineKind::Crib, "{op:?}");
    }
}

#[test]
fn no_btf_means_procfs_only() {
    let f = KernelFeatures::default();
    for op in Operation::ALL {
        assert_eq!(candidates(op, &f), [EngineKind::Procfs], "{op:?}");
    }
    let plan = Plan::resolve(EngineChoice::Auto, &Operation::ALL, &f);
    assert!(plan.steps.iter().all(|(_, k)| *k == EngineKind::Procfs));
}

#[test]
fn a_forced_engine_runs_what_it_implements() {
    let plan = Plan::resolve(
        EngineChoice::Fixed(EngineKind::Upstream),
        &Operation::ALL,
        &KernelFeatures::default(),
    );
    assert_eq!(
        plan.engine_for(Operation::Files),
        Some(EngineKind::Upstream)
    );
    assert_eq!(plan.engine_for(Operation::Queues), Some(EngineKind::Procfs));
    let plan = Plan::resolve(
        EngineChoice::Fixed(EngineKind::Crib),
        &Operation::ALL,
        &KernelFeatures::default(),
    );
    assert!(plan.steps.iter().all(|(_, k)| *k == EngineKind::Crib));
}

#[test]
fn malformed_btf_is_an_error_not_a_panic() {
    assert!(btf_names(&[]).is_err());
    assert!(btf_names(&[0x9f, 0xeb, 1, 0, 24, 0, 0]).is_err());
    let mut b = btf_with(&["x"]);
    b[20] = 0xff; // string length far past the end
    assert!(btf_names(&b).expect_err("too long").contains("beyond"));
}

#[test]
fn the_running_kernel_is_read_from_its_btf() {
    // The host and every VM kernel here have BTF; a kernel without it would
    // make this fail with the reason.
    let f = KernelFeatures::from_file(std::path::Path::new("/sys/kernel/btf/vmlinux"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        f.iter_task_file,
        "every supported kernel has the task_file iterator: {f:?}"
    );
}
