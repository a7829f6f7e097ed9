//! xtask must compile on a machine that has only the Rust toolchain and a C
//! compiler: it is what installs everything else. A crate that links a
//! system library (a `links` key: libbpf-sys needs libelf, zlib and
//! pkg-config) in xtask's normal dependency tree breaks that, so the test
//! below walks the tree from `cargo metadata` and fails on one.

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use std::collections::{BTreeSet, HashMap};
    use std::process::Command;

    /// `links` crates that build from bundled sources with only a C
    /// compiler when the system library is absent.
    const BUILDS_WITHOUT_SYSTEM_LIBS: &[&str] = &[
        // liblzma-sys: pkg-config first, else its bundled xz sources.
        "liblzma-sys",
    ];

    /// Packages in `root`'s normal (not dev, not build-only) dependency
    /// tree, for the host platform.
    fn normal_tree(meta: &Value, root: &str) -> Vec<(String, Option<String>)> {
        let pkgs: HashMap<&str, &Value> = meta["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p["id"].as_str()?, p)))
            .collect();
        let nodes: HashMap<&str, &Value> = meta["resolve"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| Some((n["id"].as_str()?, n)))
            .collect();
        let start = pkgs
            .iter()
            .find(|(_, p)| p["name"] == root)
            .map(|(id, _)| *id)
            .unwrap_or_else(|| panic!("no package {root} in cargo metadata"));
        let mut seen = BTreeSet::new();
        let mut todo = vec![start];
        while let Some(id) = todo.pop() {
            if !seen.insert(id) {
                continue;
            }
            for d in nodes[id]["deps"].as_array().into_iter().flatten() {
                let normal = d["dep_kinds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|k| k["kind"].is_null());
                if normal {
                    if let Some(pkg) = d["pkg"].as_str() {
                        todo.push(pkg);
                    }
                }
            }
        }
        seen.into_iter()
            .map(|id| {
                let p = pkgs[id];
                (
                    p["name"].as_str().unwrap_or_default().to_string(),
                    p["links"].as_str().map(str::to_string),
                )
            })
            .collect()
    }

    #[test]
    fn xtask_needs_no_system_library_to_compile() {
        let host = String::from_utf8(
            Command::new("rustc")
                .arg("-vV")
                .output()
                .expect("rustc -vV")
                .stdout,
        )
        .unwrap_or_default();
        let triple = host
            .lines()
            .find_map(|l| l.strip_prefix("host: "))
            .expect("rustc -vV names the host");
        let out = Command::new(env!("CARGO"))
            .args([
                "metadata",
                "--format-version",
                "1",
                "--filter-platform",
                triple,
            ])
            .current_dir(crate::workspace_root())
            .output()
            .expect("cargo metadata");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata json");
        let tree = normal_tree(&meta, "xtask");
        assert!(tree.iter().any(|(n, _)| n == "crib-vmtest"), "{tree:?}");
        let bad: Vec<String> = tree
            .iter()
            .filter(|(n, links)| {
                links.is_some() && !BUILDS_WITHOUT_SYSTEM_LIBS.contains(&n.as_str())
            })
            .map(|(n, l)| format!("{n} (links {})", l.as_deref().unwrap_or("")))
            .collect();
        assert!(
            bad.is_empty(),
            "xtask's normal dependency tree links system libraries: {bad:?}; \
             move what needs them out of xtask's tree (its own crate, built by xtask after the apt step)"
        );
        // The harness (libbpf) is built by xtask through cargo, never linked.
        assert!(!tree
            .iter()
            .any(|(n, _)| n == "libbpf-sys" || n == "crib-harness"));
    }
}
