//! `restore`: success runs the command with the descriptors in place; every
//! failure stops before exec with an error naming the problem.

use crib_harness::dump::{dump, DumpRequest};
use crib_harness::engine::{EngineChoice, EngineKind};
use crib_harness::image::{encode, insert_raw_record, write_dir, IMAGE_FILE};
use crib_harness::model::{Dump, FileKind};
use crib_tests::mixer::{Item, Mixer};
use crib_tests::zdtm;
use std::path::{Path, PathBuf};
use std::process::Command;

fn out() -> PathBuf {
    zdtm::default_out_dir().join("restore")
}

fn mixer(tag: &str, items: &[Item]) -> (Mixer, Dump) {
    let m = Mixer::start(&zdtm::source_dir(), &out(), tag, items).unwrap_or_else(|e| panic!("{e}"));
    let d = dump(&DumpRequest::all(
        m.pid,
        EngineChoice::Fixed(EngineKind::Procfs),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    (m, d)
}

/// Run `crib-zdtm restore --images DIR -- sh -c SCRIPT`; (success, stderr).
fn restore(images: &Path, script: &str) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_crib-zdtm"))
        .arg("restore")
        .arg("--images")
        .arg(images)
        .args(["--", "/bin/sh", "-c", script])
        .output()
        .unwrap_or_else(|e| panic!("run restorer: {e}"));
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn first_file(d: &Dump) -> (i32, String) {
    let f = d
        .files
        .iter()
        .find(|f| f.kind == FileKind::Regular && f.fd > 2)
        .expect("a regular file");
    (f.fd, f.path.to_string())
}

#[test]
fn restored_descriptors_are_in_place_when_the_command_runs() {
    let (m, d) = mixer(
        "ok",
        &[
            Item::File {
                access: "rw",
                pos: 33,
            },
            Item::Pipe { bytes: 10 },
        ],
    );
    let images = m.dir.join("images");
    write_dir(&images, &d).unwrap_or_else(|e| panic!("{e}"));
    let (fd, path) = first_file(&d);
    let marker = m.dir.join("seen");
    let script = format!("readlink /proc/$$/fd/{fd} > {}", marker.display());
    let (ok, err) = restore(&images, &script);
    assert!(ok, "restore failed: {err}");
    let seen = std::fs::read_to_string(&marker).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(seen.trim(), path);
}

#[test]
fn unknown_records_stop_restore_before_exec() {
    let (m, d) = mixer(
        "unknown",
        &[Item::File {
            access: "r",
            pos: 1,
        }],
    );
    let images = m.dir.join("images");
    std::fs::create_dir_all(&images).unwrap_or_else(|e| panic!("{e}"));
    let bytes = insert_raw_record(&encode(&d), 0x777, b"future").expect("insert");
    std::fs::write(images.join(IMAGE_FILE), bytes).unwrap_or_else(|e| panic!("{e}"));
    let marker = m.dir.join("ran");
    let (ok, err) = restore(&images, &format!("touch {}", marker.display()));
    assert!(!ok);
    assert!(err.contains("unknown type (1911)"), "{err}");
    assert!(!marker.exists(), "the command ran after a refused restore");
}

#[test]
fn a_replaced_file_is_an_error_naming_the_descriptor() {
    let (m, d) = mixer(
        "replaced",
        &[Item::File {
            access: "rw",
            pos: 5,
        }],
    );
    let images = m.dir.join("images");
    write_dir(&images, &d).unwrap_or_else(|e| panic!("{e}"));
    let (fd, path) = first_file(&d);
    std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&path, b"a different file").unwrap_or_else(|e| panic!("{e}"));
    let marker = m.dir.join("ran");
    let (ok, err) = restore(&images, &format!("touch {}", marker.display()));
    assert!(!ok);
    assert!(
        err.contains(&format!("fd {fd} ({path}): file was replaced")),
        "{err}"
    );
    assert!(!marker.exists());
}

#[test]
fn a_missing_image_dir_is_a_one_line_error() {
    let (ok, err) = restore(&out().join("no-such-dir"), "true");
    assert!(!ok);
    assert!(
        err.contains("no-such-dir/crib.img") && err.lines().count() == 1,
        "{err}"
    );
}
