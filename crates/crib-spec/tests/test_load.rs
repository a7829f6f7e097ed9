//! The loader and its rules: the real `kfunc-specs/` loads, and each rule
//! broken in a temp-dir spec gives the expected `file:line` error.

use crib_spec::{load_dir, KfFlag};
use std::path::{Path, PathBuf};

fn spec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kfunc-specs")
}

#[test]
fn real_specs_load_and_validate() {
    let set = match load_dir(&spec_dir()) {
        Ok(s) => s,
        Err(e) => panic!("kfunc-specs/ does not load:\n{e}"),
    };
    let names: Vec<_> = set.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["file", "restore", "sock", "task", "upstream"]);
    let k = set.kfunc("bpf_crib_file_from_fd").expect("spec'd");
    assert!(k.has(KfFlag::Acquire) && k.required);
    let info = set.versioned_struct("bpf_crib_skb_info").expect("spec'd");
    assert_eq!(info.latest_version(), 2);
    assert_eq!(info.size_of_version(1), Some(40));
    assert_eq!(info.size_of_version(2), Some(48));
}
