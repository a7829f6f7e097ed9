//! The ZDTM-style suite on the host lane, and tests of the runner itself.
//!
//! Needs root (pidfd_getfd on other processes, TCP_REPAIR, pid namespaces)
//! and a C compiler; without them these tests fail and say why.

use crib_harness::engine::EngineKind;
use crib_tests::zdtm::{self, report, EngineSel, Outcome, RunConfig, Sabotage, Status, TestCase};
use std::path::PathBuf;

fn config(lane: &str, sabotage: Sabotage) -> RunConfig {
    RunConfig {
        src: zdtm::source_dir(),
        out: zdtm::default_out_dir().join(lane),
        restorer: PathBuf::from(env!("CARGO_BIN_EXE_crib-zdtm")),
        sabotage,
    }
}

fn tests() -> Vec<TestCase> {
    let t = zdtm::desc::load_tests(&zdtm::source_dir()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        t.len() >= 12,
        "expected the full suite, found {} tests",
        t.len()
    );
    t
}

fn one(name: &str) -> TestCase {
    tests()
        .into_iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no zdtm test {name}"))
}

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "the zdtm lane needs root");
}

/// Run every test under `engines`, write table + JSON lines, assert all ok.
fn lane(name: &str, engines: &[EngineSel]) -> Vec<Outcome> {
    require_root();
    let cfg = config(name, Sabotage::None);
    let mut out = Vec::new();
    for t in tests() {
        for &e in engines {
            out.push(zdtm::run_test(&cfg, &t, e));
        }
    }
    let table = report::table(&out);
    println!("{table}");
    std::fs::create_dir_all(&cfg.out).unwrap_or_else(|e| panic!("{}: {e}", cfg.out.display()));
    std::fs::write(cfg.out.join("results.jsonl"), report::json_lines(&out))
        .unwrap_or_else(|e| panic!("writing results: {e}"));
    std::fs::write(cfg.out.join("results.txt"), &table).unwrap_or_else(|e| panic!("{e}"));
    let bad: Vec<&Outcome> = out.iter().filter(|o| !o.status.ok()).collect();
    assert!(
        bad.is_empty(),
        "not ok:\n{}",
        report::table(&bad.into_iter().cloned().collect::<Vec<_>>())
    );
    out
}

#[test]
fn host_lane_live_and_procfs() {
    let out = lane(
        "host-procfs",
        &[EngineSel::Live, EngineSel::Engine(EngineKind::Procfs)],
    );
    // The corked test must be a real, explained failure for procfs.
    let corked = out
        .iter()
        .find(|o| o.test == "udp_corked" && o.engine == "procfs")
        .expect("udp_corked ran");
    assert_eq!(corked.status, Status::Xfail);
    assert!(
        corked
            .reason
            .contains("cannot see the write queue of a corked UDP socket"),
        "reason: {}",
        corked.reason
    );
}

#[test]
fn host_lane_upstream() {
    lane("host-upstream", &[EngineSel::Engine(EngineKind::Upstream)]);
}

fn sabotaged(lane: &str, s: Sabotage, test: &str) -> Outcome {
    require_root();
    zdtm::run_test(
        &config(lane, s),
        &one(test),
        EngineSel::Engine(EngineKind::Procfs),
    )
}

#[test]
fn runner_fails_a_test_whose_image_has_a_corrupt_record() {
    let o = sabotaged("sabotage-corrupt", Sabotage::CorruptRecord, "unix_stream");
    assert_eq!(o.status, Status::Fail, "{o:?}");
    assert!(o.reason.contains("checksum mismatch"), "{}", o.reason);
}

#[test]
fn runner_fails_a_test_whose_image_is_truncated() {
    let o = sabotaged("sabotage-truncate", Sabotage::TruncateImage, "pipe_data");
    assert_eq!(o.status, Status::Fail, "{o:?}");
    assert!(o.reason.contains("truncated"), "{}", o.reason);
}

#[test]
fn runner_without_sabotage_passes_the_same_tests() {
    // The control for the two sabotage tests above.
    for t in ["unix_stream", "pipe_data"] {
        let o = sabotaged("sabotage-control", Sabotage::None, t);
        assert_eq!(o.status, Status::Pass, "{o:?}");
    }
}

#[test]
fn every_descriptor_parses_and_names_known_engines() {
    for t in tests() {
        for e in t.desc.crfail.iter().chain(t.desc.engines.iter().flatten()) {
            assert!(
                EngineSel::parse(e).is_some(),
                "{}: unknown engine {e:?}",
                t.name
            );
        }
        assert!(
            ["any", "crib"].contains(&t.desc.kernels.as_str()),
            "{}: kernels",
            t.name
        );
    }
}

/// The VM lane: every test under the `crib` engine on the patched kernel
/// (run by `cargo xtask vmtest`, see vmtest.toml `zdtm/crib`). Results also
/// go to `$CRIB_VMTEST_OUT/zdtm-crib.jsonl` when the harness provides it.
#[test]
#[ignore = "VM lane: needs the patched kernel's CRIB kfuncs (cargo xtask vmtest)"]
fn vm_lane_crib() {
    let out = lane(
        "vm-crib",
        &[EngineSel::Live, EngineSel::Engine(EngineKind::Crib)],
    );
    if let Some(dir) = std::env::var_os("CRIB_VMTEST_OUT") {
        let p = PathBuf::from(dir).join("zdtm-crib.jsonl");
        std::fs::write(&p, report::json_lines(&out))
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
    let corked = out
        .iter()
        .find(|o| o.test == "udp_corked" && o.engine == "crib")
        .expect("udp_corked ran");
    assert_eq!(corked.status, Status::Pass, "{corked:?}");
}
