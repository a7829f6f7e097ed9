//! End-to-end exit codes and output of `crib compat`, through the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn corpus(file: &str) -> PathBuf {
    let dir = std::env::var_os("CRIB_BTF_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/btf"));
    let p = dir.join(file);
    assert!(
        p.is_file(),
        "kernel BTF corpus file {} missing (set CRIB_BTF_CORPUS or run cargo xtask btf-corpus)",
        p.display()
    );
    p
}

fn crib(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crib"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("running the crib binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fake kernel with one variant of `struct bpf_crib_skb_info`, compiled
/// from the checker's C fixture.
fn fixture_kernel(dir: &Path, variant: &str) -> PathBuf {
    let src = root().join("crates/crib-btf/tests/fixtures/kernel_skb_info.c");
    let out = dir.join(format!("{variant}.o"));
    let st = Command::new("clang")
        .args(["-O2", "-g", "-target", "bpf", "-c"])
        .arg(format!("-DVARIANT_{variant}"))
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("running clang (listed in xtask deps BASE)");
    assert!(st.success(), "clang failed on {}", src.display());
    out
}

#[test]
fn corpus_matrix_exits_zero_and_names_every_kernel() {
    let k61 = corpus("btf-6.1.0-56-cloud-amd64.raw.xz");
    let k612 = corpus("btf-6.12.117+deb12-cloud-amd64.raw.xz");
    let k618 = corpus("btf-6.18.44-host.raw.xz");
    let out = crib(&[
        "compat",
        "--spec",
        "kfunc-specs",
        "--kernel",
        &format!("6.1={}", k61.display()),
        "--kernel",
        &format!("6.12={}", k612.display()),
        "--kernel",
        &format!("6.18={}", k618.display()),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let labels: Vec<&str> = json["kernels"]
        .as_array()
        .expect("kernels array")
        .iter()
        .filter_map(|k| k["label"].as_str())
        .collect();
    assert_eq!(labels, ["6.1", "6.12", "6.18"]);
}

#[test]
fn absent_crib_kfuncs_fail_only_with_require_present() {
    let k = corpus("btf-6.12.117+deb12-cloud-amd64.raw.xz");
    let k = k.to_string_lossy();
    let plain = crib(&["compat", "--kernel", &k]);
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain.stderr));
    let strict = crib(&["compat", "--kernel", &k, "--require-present"]);
    assert_eq!(strict.status.code(), Some(1), "{}", text(&strict.stdout));
}

#[test]
fn incompatible_struct_exits_one_with_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = fixture_kernel(dir.path(), "REORDERED");
    let out = crib(&["compat", "--kernel", &k.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("bpf_crib_skb_info"), "{stdout}");
}

#[test]
fn garbage_kernel_is_a_one_line_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("not-btf.raw");
    std::fs::write(&bad, b"this is not BTF at all").expect("write");
    let out = crib(&["compat", "--kernel", &bad.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("not-btf.raw"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn missing_kernel_and_bad_spec_exit_two() {
    let out = crib(&["compat", "--kernel", "/nonexistent/vmlinux"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/vmlinux"));

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.toml"),
        "family = \"bad\"\n[[kfunc]]\nname = 42\n",
    )
    .expect("write");
    let k = corpus("btf-6.1.0-56-cloud-amd64.raw.xz");
    let out = crib(&[
        "compat",
        "--spec",
        &dir.path().to_string_lossy(),
        "--kernel",
        &k.to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad.toml:"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn malformed_suppression_file_exits_two_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = corpus("btf-6.1.0-56-cloud-amd64.raw.xz");
    let cases: &[(&str, &str, &str)] = &[
        // (file text, where, what the message names)
        ("[[suppress]]\nitem = \"x\"\n", ":1:", "reason"),
        (
            "[[suppress]]\nitem = \"x\"\nreason = \"r\"\nwhy = 1\n",
            ":4:",
            "why",
        ),
        ("[[suppress]]\nitem = \"x\nreason = \"r\"\n", ":2:", ""),
        (
            "[[suppress]]\nitem = \"x\"\ncode = \"no_such_code\"\nreason = \"r\"\n",
            ":1:",
            "no_such_code",
        ),
    ];
    for (i, (body, at, what)) in cases.iter().enumerate() {
        let f = dir.path().join(format!("bad-suppress-{i}.toml"));
        std::fs::write(&f, body).expect("write");
        let out = crib(&[
            "compat",
            "--kernel",
            &k.to_string_lossy(),
            "--suppress",
            &f.to_string_lossy(),
        ]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {err}");
        assert!(
            err.contains(&format!("bad-suppress-{i}.toml{at}")),
            "case {i}: {err}"
        );
        assert!(err.contains(what), "case {i}: {err}");
        assert!(!err.contains("panicked"), "case {i}: {err}");
        assert!(out.stdout.is_empty(), "case {i}: report printed");
    }
    // A missing file is the same kind of error.
    let missing = dir.path().join("nope.toml");
    let out = crib(&[
        "compat",
        "--kernel",
        &k.to_string_lossy(),
        "--suppress",
        &missing.to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("nope.toml"));
}

#[test]
fn suppression_turns_exit_one_into_zero_and_flags_stale_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k = fixture_kernel(dir.path(), "REORDERED");
    let kernel = format!("reordered={}", k.display());
    let before = crib(&["compat", "--kernel", &kernel]);
    assert_eq!(before.status.code(), Some(1), "{}", text(&before.stderr));

    let sup = dir.path().join("suppress.toml");
    std::fs::write(
        &sup,
        "[[suppress]]\nkernel = \"reorder*\"\nitem = \"bpf_crib_skb_info\"\n\
         reason = \"fixture kernel with a reordered layout\"\n\n\
         [[suppress]]\nitem = \"bpf_crib_gone\"\nreason = \"removed from the spec\"\n",
    )
    .expect("write");
    let sup = sup.to_string_lossy();
    let out = crib(&["compat", "--kernel", &kernel, "--suppress", &sup]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("error (suppressed)"), "{stdout}");
    assert!(
        stdout.contains("fixture kernel with a reordered layout"),
        "{stdout}"
    );
    assert!(
        stdout.contains("reordered: 0 error, 0 warning, 0 info (2 suppressed)"),
        "{stdout}"
    );
    assert!(stdout.contains("stale suppression"), "{stdout}");
    assert!(
        text(&out.stderr).contains("suppress.toml:6: stale suppression"),
        "{}",
        text(&out.stderr)
    );

    let suppressed_as = |format: &str| {
        crib(&[
            "compat",
            "--kernel",
            &kernel,
            "--suppress",
            &sup,
            "--format",
            format,
        ])
    };
    let out = suppressed_as("json");
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(json["schema_version"], 2);
    assert_eq!(json["summary"]["ok"], true);
    assert_eq!(json["summary"]["stale_suppressions"], 1);
    let findings = json["findings"].as_array().expect("findings");
    assert!(!findings.is_empty());
    for f in findings {
        assert_eq!(f["severity"], "error", "{f}");
        assert_eq!(f["fails"], false, "{f}");
        assert_eq!(f["suppressed"]["line"], 1, "{f}");
    }
    assert_eq!(
        json["kernels"][0]["summary"]["line"],
        "reordered: 0 error, 0 warning, 0 info (2 suppressed)"
    );

    let md = suppressed_as("markdown");
    assert_eq!(md.status.code(), Some(0));
    let md = text(&md.stdout);
    assert!(md.contains("| error (suppressed) | `reordered` |"), "{md}");
    assert!(
        md.contains("- reordered: 0 error, 0 warning, 0 info (2 suppressed)"),
        "{md}"
    );
}
