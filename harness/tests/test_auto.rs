//! `--engine auto` on the running kernel: each BPF engine is loaded once
//! per dump however many operations probe it, and every operation's note
//! says which engine ran and why better ones were passed over. A test of
//! its own: it counts loads with a process-wide counter.

mod common;

use crib_harness::dump::{dump_with, DumpRequest, ENGINE_NOTE};
use crib_harness::engine::{bpf_engine_opens, EngineChoice, KernelFeatures};
use crib_harness::model::Operation;

#[test]
fn auto_loads_each_engine_once_and_explains_every_choice() {
    let child = common::spawn();
    let f = KernelFeatures::detect();
    let before = bpf_engine_opens();
    let d = dump_with(&DumpRequest::all(child.pid, EngineChoice::Auto), &f)
        .unwrap_or_else(|e| panic!("auto dump: {e}"));
    let opens = bpf_engine_opens() - before;
    let bpf_kinds = d
        .info
        .engines
        .iter()
        .map(|(_, e)| e.as_str())
        .filter(|e| *e != "procfs")
        .collect::<std::collections::BTreeSet<_>>();
    // One load per BPF engine the plan probed (crib is probed only where
    // the kernel's BTF has its kfuncs).
    assert!(
        opens <= 2 && opens >= bpf_kinds.len(),
        "{opens} BPF engine loads for engines {bpf_kinds:?}"
    );
    let notes: Vec<&String> = d
        .info
        .notes
        .iter()
        .filter(|n| n.starts_with(ENGINE_NOTE))
        .collect();
    assert_eq!(notes.len(), d.info.engines.len(), "{:?}", d.info.notes);
    for (op, engine) in &d.info.engines {
        let note = notes
            .iter()
            .find(|n| n.starts_with(&format!("{ENGINE_NOTE}{}: {engine}", op.name())))
            .unwrap_or_else(|| panic!("no note for {}: {:?}", op.name(), d.info.notes));
        if engine == "procfs" {
            assert!(note.contains("passed over"), "{note}");
        }
    }
    // Where this kernel has the iterators, upstream runs files and mm (the
    // kernel on which dump_vma was once refused included), or the note says
    // exactly why not.
    if f.iter_task_file && f.iter_task_vma && !f.crib_file_from_fd {
        for op in [Operation::Files, Operation::MemoryMap] {
            let e = &d
                .info
                .engines
                .iter()
                .find(|(o, _)| *o == op)
                .expect("op ran")
                .1;
            assert_eq!(e, "upstream", "{:?}", d.info.notes);
        }
    }
}
