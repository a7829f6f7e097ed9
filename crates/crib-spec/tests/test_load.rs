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
    assert_eq!(names, ["file", "mm", "restore", "sock", "task", "upstream"]);
    let k = set.kfunc("bpf_crib_file_from_fd").expect("spec'd");
    assert!(k.has(KfFlag::Acquire) && k.required);
    let info = set.versioned_struct("bpf_crib_skb_info").expect("spec'd");
    assert_eq!(info.latest_version(), 2);
    assert_eq!(info.size_of_version(1), Some(40));
    assert_eq!(info.size_of_version(2), Some(48));
}

// ---- each rule broken in a temp-dir spec -------------------------------

/// A minimal valid family `t` to start rule tests from.
const BASE: &str = r#"family = "t"
doc = "test family"
kernel_types = ["task_struct", "file"]

[[kfunc]]
name = "bpf_t_get"
ret = "struct task_struct *"
args = ["s32 pid"]
flags = ["KF_ACQUIRE", "KF_RET_NULL"]
prog_types = ["syscall"]
origin = "crib"
patch = "0001-t.patch"
doc = "get"

[[kfunc]]
name = "bpf_t_put"
ret = "void"
args = ["struct task_struct *p"]
flags = ["KF_RELEASE"]
prog_types = ["syscall"]
origin = "crib"
patch = "0001-t.patch"
doc = "put"
"#;

/// Write `files` (name → text) into `<tmp>/kfunc-specs/` and load it.
fn load_texts(
    files: &[(&str, &str)],
) -> (
    tempfile::TempDir,
    Result<crib_spec::SpecSet, crib_spec::SpecError>,
) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("kfunc-specs");
    std::fs::create_dir(&dir).expect("mkdir");
    for (name, text) in files {
        std::fs::write(dir.join(name), text.replace("#!", "")).expect("write");
    }
    let r = load_dir(&dir);
    (tmp, r)
}

/// Load `BASE + extra` as `t.toml` and require an error `t.toml:L: ...msg...`
/// where L is the line of `extra` that carries the `#!` marker.
fn expect_err(extra: &str, msg: &str) {
    expect_err_in(&format!("{BASE}{extra}"), msg);
}

fn expect_err_in(text: &str, msg: &str) {
    let line = text
        .lines()
        .position(|l| l.contains("#!"))
        .map(|i| i + 1)
        .expect("test text needs a #! marker");
    let (_tmp, r) = load_texts(&[("t.toml", text)]);
    let err = match r {
        Ok(_) => panic!("expected an error containing {msg:?}, but it loaded"),
        Err(e) => e.to_string(),
    };
    let want = format!("t.toml:{line}: ");
    assert!(
        err.lines().any(|l| l.contains(&want) && l.contains(msg)),
        "expected `{want}...{msg}...`, got:\n{err}"
    );
}

fn kfunc(name: &str, ret: &str, args: &str, flags: &str) -> String {
    format!(
        "\n[[kfunc]]\nname = \"{name}\"\nret = \"{ret}\"\nargs = [{args}]\nflags = [{flags}]\n\
         prog_types = [\"syscall\"]\norigin = \"crib\"\npatch = \"0001-t.patch\"\ndoc = \"d\"\n"
    )
}

#[test]
fn base_spec_is_valid() {
    let (_tmp, r) = load_texts(&[("t.toml", BASE)]);
    if let Err(e) = r {
        panic!("{e}");
    }
}

#[test]
fn toml_syntax_error_has_a_line() {
    expect_err("\n[[kfunc]]\nname = = \"x\" #!\n", "");
}

#[test]
fn unknown_key_is_an_error() {
    expect_err(
        "\n[[const]]\nname = \"C\"\nvalue = 1\ncolour = 3 #!\n",
        "unknown field `colour`",
    );
}

#[test]
fn family_must_match_file_stem() {
    expect_err_in(
        &BASE.replace("family = \"t\"", "family = \"other\" #!"),
        "must equal the file name stem",
    );
}

#[test]
fn empty_dir_is_an_error() {
    let (_tmp, r) = load_texts(&[]);
    assert!(matches!(r, Err(crib_spec::SpecError::Empty { .. })));
}

#[test]
fn bad_declaration_names_the_line() {
    let text = "\n[[kfunc]]\nname = \"bpf_t_x\"\nret = \"int\"\nargs = [\n  \"s32 a\",\n  \"u33 b\", #!\n]\n\
                prog_types = [\"syscall\"]\norigin = \"crib\"\npatch = \"0001-t.patch\"\ndoc = \"d\"\n";
    expect_err(text, "unknown type `u33`");
}

#[test]
fn duplicate_names_across_families() {
    let other = "family = \"u\"\n\n[[const]]\nname = \"bpf_t_get\" #!\nvalue = 1\n";
    let (_tmp, r) = load_texts(&[("t.toml", BASE), ("u.toml", other)]);
    let err = r.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("u.toml:4: duplicate name `bpf_t_get`"),
        "{err}"
    );
    assert!(
        err.contains("t.toml:6"),
        "should name the first declaration: {err}"
    );
}

#[test]
fn unresolvable_struct() {
    expect_err(
        &kfunc("bpf_t_x", "int", "\"struct sock *sk\" #!", ""),
        "unknown type `struct sock`",
    );
}

#[test]
fn struct_by_value_is_rejected() {
    expect_err(
        &kfunc("bpf_t_x", "int", "\"struct file f\" #!", ""),
        "by value",
    );
}

#[test]
fn kernel_type_clashing_with_spec_type() {
    let text = BASE.replace(
        "kernel_types = [\"task_struct\", \"file\"]",
        "kernel_types = [\"task_struct\", \"file\", \"bpf_iter_t\"] #!",
    ) + "\n[[opaque]]\nname = \"bpf_iter_t\"\nwords = 1\n"
        + &kfunc(
            "bpf_iter_t_new",
            "int",
            "\"struct bpf_iter_t *it\"",
            "\"KF_ITER_NEW\"",
        )
        + &kfunc(
            "bpf_iter_t_next",
            "struct file *",
            "\"struct bpf_iter_t *it\"",
            "\"KF_ITER_NEXT\", \"KF_RET_NULL\"",
        )
        + &kfunc(
            "bpf_iter_t_destroy",
            "void",
            "\"struct bpf_iter_t *it\"",
            "\"KF_ITER_DESTROY\"",
        );
    expect_err_in(&text, "also spec'd as opaque");
}

#[test]
fn upstream_kfunc_cannot_use_crib_types() {
    let text = "\n[[opaque]]\nname = \"bpf_t_state\"\nwords = 1\n\n[[kfunc]]\nname = \"bpf_t_up\"\nret = \"int\"\n\
                args = [\"struct bpf_t_state *s\"] #!\nprog_types = [\"any\"]\norigin = \"upstream\"\nsince = \"6.1\"\ndoc = \"d\"\n";
    expect_err(text, "only the CRIB series defines");
}

#[test]
fn sz_arg_must_follow_a_pointer() {
    expect_err(
        &kfunc("bpf_t_x", "int", "\"u32 a\", \"u32 b__sz\" #!", ""),
        "must directly follow the pointer",
    );
    expect_err(
        &kfunc("bpf_t_y", "int", "\"u32 b__sz\" #!", ""),
        "must directly follow the pointer",
    );
}

#[test]
fn sz_arg_must_be_u32() {
    expect_err(
        &kfunc("bpf_t_x", "int", "\"void *buf\", \"u64 buf__sz\" #!", ""),
        "32-bit unsigned",
    );
    expect_err(
        &kfunc("bpf_t_y", "int", "\"void *buf\", \"s32 buf__sz\" #!", ""),
        "32-bit unsigned",
    );
}

#[test]
fn void_pointer_needs_a_size() {
    expect_err(
        &kfunc("bpf_t_x", "int", "\"void *buf\" #!, \"u32 len\"", ""),
        "must be directly followed by a `buf__sz`",
    );
}

#[test]
fn ignored_void_pointer_needs_no_size() {
    // bpf_rdonly_cast(const void *obj__ign, u32 btf_id__k): the verifier
    // reads no memory through an __ign argument
    let text = format!(
        "{BASE}{}",
        kfunc(
            "bpf_t_cast",
            "void *",
            "\"const void *obj__ign\", \"u32 id__k\"",
            ""
        )
    );
    let (_tmp, r) = load_texts(&[("t.toml", &text)]);
    if let Err(e) = r {
        panic!("{e}");
    }
}

#[test]
fn at_most_five_args() {
    let args = "\"u32 a\", \"u32 b\", \"u32 c\", \"u32 d\", \"u32 e\", \"u32 f\" #!";
    expect_err(&kfunc("bpf_t_x", "int", args, ""), "at most 5");
}

#[test]
fn duplicate_arg_names() {
    expect_err(
        &kfunc("bpf_t_x", "int", "\"u32 a\", \"u32 a\" #!", ""),
        "duplicate arg name",
    );
}

#[test]
fn release_takes_one_pointer() {
    let text = "\n[[kfunc]]\nname = \"bpf_t_rel\" #!\nret = \"void\"\nargs = [\"struct file *a\", \"struct file *b\"]\n\
                flags = [\"KF_RELEASE\"]\nprog_types = [\"syscall\"]\norigin = \"crib\"\npatch = \"0001-t.patch\"\ndoc = \"d\"\n";
    expect_err(text, "exactly one pointer arg (found 2)");
}

#[test]
fn acquire_and_ret_null_return_pointers() {
    let text = "\n[[kfunc]]\nname = \"bpf_t_acq\"\nret = \"int\" #!\nargs = []\nflags = [\"KF_ACQUIRE\"]\n\
                prog_types = [\"syscall\"]\norigin = \"crib\"\npatch = \"0001-t.patch\"\ndoc = \"d\"\n";
    expect_err(text, "KF_ACQUIRE needs a pointer return type");
    expect_err(
        &text.replace("KF_ACQUIRE", "KF_RET_NULL"),
        "KF_RET_NULL needs a pointer return type",
    );
}

#[test]
fn unknown_flag() {
    expect_err(
        &kfunc("bpf_t_x", "int", "", "\"KF_FAST\" #!"),
        "unknown flag `KF_FAST`",
    );
}

#[test]
fn prog_types_non_empty_and_known() {
    let k = kfunc("bpf_t_x", "int", "", "");
    expect_err(
        &k.replace("prog_types = [\"syscall\"]", "prog_types = [] #!"),
        "must not be empty",
    );
    expect_err(
        &k.replace("prog_types = [\"syscall\"]", "prog_types = [\"xdp\"] #!"),
        "unknown program type `xdp`",
    );
}

#[test]
fn origin_keys() {
    let k = kfunc("bpf_t_x", "int", "", "");
    expect_err(
        &k.replace("origin = \"crib\"", "origin = \"crib\" #!")
            .replace("patch = \"0001-t.patch\"\n", ""),
        "needs `patch`",
    );
    expect_err(
        &k.replace("origin = \"crib\"", "origin = \"upstream\" #!")
            .replace("patch = \"0001-t.patch\"\n", ""),
        "needs `since`",
    );
    expect_err(
        &k.replace("origin = \"crib\"", "origin = \"vendor\" #!"),
        "unknown origin",
    );
    expect_err(
        &k.replace("doc = \"d\"", "since = \"6.1\" #!\ndoc = \"d\""),
        "`since` is for upstream",
    );
    expect_err(
        &k.replace(
            "origin = \"crib\"",
            "origin = \"upstream\"\nsince = \"six\" #!",
        )
        .replace("patch = \"0001-t.patch\"\n", ""),
        "bad kernel version",
    );
}

#[test]
fn doc_is_one_line() {
    let k = kfunc("bpf_t_x", "int", "", "");
    expect_err(
        &k.replace("doc = \"d\"", "doc = \"\" #!"),
        "one non-empty line",
    );
}

/// A valid versioned struct plus a kfunc using it; tests break one thing.
fn vstruct(fields: &str) -> String {
    format!(
        "\n[[struct]]\nname = \"bpf_t_info\"\nsize_member = \"sz\"\nversion_member = \"version\"\nfields = [\n{fields}]\n"
    )
}

const GOOD_FIELDS: &str = "  { decl = \"__u32 sz\", since = 1 },\n  { decl = \"__u32 version\", since = 1 },\n  \
                           { decl = \"__u64 a\", since = 1 },\n  { decl = \"__u32 b\", since = 2 },\n  { decl = \"__u32 c\", since = 2 },\n";

#[test]
fn good_struct_loads() {
    let (_tmp, r) = load_texts(&[("t.toml", &format!("{BASE}{}", vstruct(GOOD_FIELDS)))]);
    let set = r.unwrap_or_else(|e| panic!("{e}"));
    let s = set.versioned_struct("bpf_t_info").expect("loaded");
    assert_eq!(
        (s.size_of_version(1), s.size_of_version(2)),
        (Some(16), Some(24))
    );
}

#[test]
fn size_member_first_and_u32() {
    let f = "  { decl = \"__u32 version\", since = 1 },\n  { decl = \"__u32 sz\", since = 1 },\n";
    expect_err_in(
        &format!(
            "{BASE}{}",
            vstruct(f).replace("size_member = \"sz\"", "size_member = \"sz\" #!")
        ),
        "must be the first field",
    );
    let f = "  { decl = \"__u64 sz\", since = 1 }, #!\n  { decl = \"__u32 version\", since = 1 },\n  { decl = \"__u64 x\", since = 1 },\n";
    expect_err(&vstruct(f), "size member `sz` must be __u32");
}

#[test]
fn version_member_exists_and_is_u32() {
    let f = "  { decl = \"__u32 sz\", since = 1 },\n  { decl = \"__u32 vers\", since = 1 },\n";
    expect_err_in(
        &format!(
            "{BASE}{}",
            vstruct(f).replace(
                "version_member = \"version\"",
                "version_member = \"version\" #!"
            )
        ),
        "version member `version` is not a field",
    );
    let f = "  { decl = \"__u32 sz\", since = 1 },\n  { decl = \"__u16 version\", since = 1 }, #!\n  { decl = \"__u16 x\", since = 1 },\n";
    expect_err(&vstruct(f), "must be __u32");
}

#[test]
fn since_starts_at_one() {
    let f =
        "  { decl = \"__u32 sz\", since = 2 }, #!\n  { decl = \"__u32 version\", since = 2 },\n";
    expect_err(&vstruct(f), "first field must have since = 1");
}

#[test]
fn since_never_decreases() {
    let f = GOOD_FIELDS.to_string() + "  { decl = \"__u64 late\", since = 1 }, #!\n";
    expect_err(&vstruct(&f), "append-only");
}

#[test]
fn since_has_no_gaps() {
    let f = "  { decl = \"__u32 sz\", since = 1 },\n  { decl = \"__u32 version\", since = 1 },\n  { decl = \"__u64 x\", since = 3 }, #!\n";
    expect_err(&vstruct(f), "jumps from version 1 to 3");
}

#[test]
fn implicit_hole_is_rejected() {
    let f = "  { decl = \"__u32 sz\", since = 1 },\n  { decl = \"__u32 version\", since = 1 },\n  \
             { decl = \"__u16 a\", since = 1 },\n  { decl = \"__u64 b\", since = 1 }, #!\n";
    expect_err(&vstruct(f), "6-byte padding hole before `b` at offset 10");
}

#[test]
fn hidden_tail_is_rejected_per_version() {
    // v1 is fine (16 bytes); v2 adds a __u32 and would end at 20 of 24.
    let f = "  { decl = \"__u32 sz\", since = 1 },\n  { decl = \"__u32 version\", since = 1 },\n  \
             { decl = \"__u64 a\", since = 1 },\n  { decl = \"__u32 b\", since = 2 }, #!\n";
    expect_err(&vstruct(f), "v2: ends at 20 but sizeof is 24");
}

#[test]
fn explicit_padding_is_accepted() {
    let f = "  { decl = \"__u32 sz\", since = 1 },\n  { decl = \"__u32 version\", since = 1 },\n  \
             { decl = \"__u16 a\", since = 1 },\n  { decl = \"__u8 __pad[6]\", since = 1 },\n  { decl = \"__u64 b\", since = 1 },\n";
    let (_tmp, r) = load_texts(&[("t.toml", &format!("{BASE}{}", vstruct(f)))]);
    if let Err(e) = r {
        panic!("{e}");
    }
}

#[test]
fn field_types_are_uapi() {
    let f = "  { decl = \"__u32 sz\", since = 1 },\n  { decl = \"__u32 version\", since = 1 },\n  { decl = \"u64 a\", since = 1 }, #!\n";
    expect_err(&vstruct(f), "not a uapi type");
    let f = "  { decl = \"__u32 sz\", since = 1 },\n  { decl = \"__u32 version\", since = 1 },\n  { decl = \"void *p\", since = 1 }, #!\n";
    expect_err(&vstruct(f), "use __u64");
}

#[test]
fn duplicate_field() {
    let f = "  { decl = \"__u32 sz\", since = 1 },\n  { decl = \"__u32 version\", since = 1 },\n  { decl = \"__u32 sz\", since = 1 }, #!\n  { decl = \"__u32 y\", since = 1 },\n";
    expect_err(&vstruct(f), "duplicate field `sz`");
}

#[test]
fn versioned_struct_pointer_needs_sz() {
    let k = kfunc("bpf_t_x", "int", "\"const struct bpf_t_info *info\" #!", "");
    expect_err(
        &(vstruct(GOOD_FIELDS) + &k),
        "must be directly followed by a `info__sz`",
    );
}

/// Iterator kfuncs for state `bpf_iter_t`.
fn iter_family() -> String {
    format!(
        "{BASE}\n[[opaque]]\nname = \"bpf_iter_t\"\nwords = 2\n{}{}{}",
        kfunc(
            "bpf_iter_t_new",
            "int",
            "\"struct bpf_iter_t *it\", \"struct task_struct *task\"",
            "\"KF_ITER_NEW\""
        ),
        kfunc(
            "bpf_iter_t_next",
            "struct file *",
            "\"struct bpf_iter_t *it\"",
            "\"KF_ITER_NEXT\", \"KF_RET_NULL\""
        ),
        kfunc(
            "bpf_iter_t_destroy",
            "void",
            "\"struct bpf_iter_t *it\"",
            "\"KF_ITER_DESTROY\""
        ),
    )
}

#[test]
fn iterator_family_is_valid() {
    let (_tmp, r) = load_texts(&[("t.toml", &iter_family())]);
    if let Err(e) = r {
        panic!("{e}");
    }
}

#[test]
fn iterator_needs_all_three_methods() {
    let text = iter_family();
    let start = text
        .find("\n[[kfunc]]\nname = \"bpf_iter_t_destroy\"")
        .expect("present");
    let text = text[..start].replace("name = \"bpf_iter_t\"", "name = \"bpf_iter_t\" #!");
    expect_err_in(&text, "missing kfunc bpf_iter_t_destroy");
}

#[test]
fn iterator_method_shapes() {
    let text = iter_family();
    let mark = |from: &str, to: &str| text.replace(from, to);
    expect_err_in(
        &mark(
            "name = \"bpf_iter_t_new\"\nret = \"int\"",
            "name = \"bpf_iter_t_new\" #!\nret = \"u32\"",
        ),
        "_new must return int",
    );
    expect_err_in(
        &mark(
            "name = \"bpf_iter_t_next\"",
            "name = \"bpf_iter_t_next\" #!",
        )
        .replace("\"KF_ITER_NEXT\", \"KF_RET_NULL\"", "\"KF_ITER_NEXT\""),
        "_next needs KF_RET_NULL",
    );
    expect_err_in(
        &mark(
            "name = \"bpf_iter_t_destroy\"\nret = \"void\"",
            "name = \"bpf_iter_t_destroy\" #!\nret = \"int\"",
        ),
        "_destroy must return void",
    );
    expect_err_in(
        &mark(
            "name = \"bpf_iter_t_destroy\"",
            "name = \"bpf_iter_t_destroy\" #!",
        )
        .replace("flags = [\"KF_ITER_DESTROY\"]", "flags = []"),
        "needs KF_ITER_DESTROY",
    );
    expect_err_in(
        &mark(
            "name = \"bpf_iter_t_new\"\nret = \"int\"\nargs = [\"struct bpf_iter_t *it\", ",
            "name = \"bpf_iter_t_new\" #!\nret = \"int\"\nargs = [",
        ),
        "first arg must be `struct bpf_iter_t *`",
    );
}

#[test]
fn iter_flag_needs_iter_name() {
    expect_err(
        &kfunc("bpf_t_begin", "int", "", "\"KF_ITER_NEW\"")
            .replace("name = \"bpf_t_begin\"", "name = \"bpf_t_begin\" #!"),
        "must be named bpf_iter_<x>_new",
    );
}

#[test]
fn opaque_words_in_range() {
    expect_err(
        "\n[[opaque]]\nname = \"bpf_t_o\"\nwords = 0 #!\n",
        "out of range",
    );
}

#[test]
fn const_fits_an_enum() {
    expect_err(
        "\n[[const]]\nname = \"T_BIG\" #!\nvalue = 4294967296\n",
        "does not fit a C enum",
    );
}

#[test]
fn patch_must_be_in_series_when_it_exists() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("kfunc-specs");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::create_dir_all(tmp.path().join("kernel-patches")).expect("mkdir");
    let text = BASE.replace(
        "patch = \"0001-t.patch\"\ndoc = \"put\"",
        "patch = \"0002-t.patch\"\ndoc = \"put\"",
    );
    std::fs::write(dir.join("t.toml"), &text).expect("write");
    // No series file yet: the check is skipped.
    if let Err(e) = load_dir(&dir) {
        panic!("{e}");
    }
    std::fs::write(
        tmp.path().join("kernel-patches/series"),
        "# ours\n0001-t.patch\n",
    )
    .expect("write");
    let err = load_dir(&dir)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let line = text
        .lines()
        .position(|l| l.contains("0002-t.patch"))
        .map_or(0, |i| i + 1);
    assert!(
        err.contains(&format!(
            "t.toml:{line}: bpf_t_put: patch `0002-t.patch` is not listed"
        )),
        "{err}"
    );
    std::fs::write(
        tmp.path().join("kernel-patches/series"),
        "0001-t.patch\n0002-t.patch\n",
    )
    .expect("write");
    if let Err(e) = load_dir(&dir) {
        panic!("{e}");
    }
}

#[test]
fn iterator_arg_of_other_kfunc_needs_iter_suffix() {
    let extra = kfunc("bpf_iter_t_peek", "int", "\"struct bpf_iter_t *it\" #!", "");
    expect_err_in(&(iter_family() + &extra), "must be named `it__iter`");
    let ok = iter_family()
        + &kfunc(
            "bpf_iter_t_peek",
            "int",
            "\"struct bpf_iter_t *it__iter\"",
            "",
        );
    let (_tmp, r) = load_texts(&[("t.toml", &ok)]);
    if let Err(e) = r {
        panic!("{e}");
    }
}

#[test]
fn all_problems_are_reported_in_line_order() {
    // Struct rules run after kfunc rules: an unsorted report would list
    // the later kfunc line first.
    let bad_struct = vstruct(
        "  { decl = \"__u32 sz\", since = 1 },\n  { decl = \"__u32 version\", since = 3 },\n",
    );
    let text = format!(
        "{BASE}{bad_struct}{}",
        kfunc("bpf_t_a", "int", "", "\"KF_ACQUIRE\"")
    );
    let (_tmp, r) = load_texts(&[("t.toml", &text)]);
    let err = r.err().map(|e| e.to_string()).unwrap_or_default();
    let lines: Vec<u32> = err
        .lines()
        .map(|l| {
            l.split(':')
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        })
        .collect();
    assert!(lines.len() >= 2, "{err}");
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{err}");
}

mod mutated_specs {
    use super::*;
    use proptest::prelude::*;

    fn real_texts() -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = std::fs::read_dir(spec_dir())
            .expect("kfunc-specs/")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .map(|p| {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (name, std::fs::read_to_string(&p).expect("read"))
            })
            .collect();
        v.sort();
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Cutting a random span out of a real spec never panics, and any
        /// error names a real line of a real file.
        #[test]
        fn cut_specs_error_cleanly(file in 0usize..5, start in 0.0f64..1.0, len in 1usize..60) {
            let mut texts = real_texts();
            let n = texts.len();
            let (name, text) = &mut texts[file % n];
            let mut at = (start * text.len() as f64) as usize;
            while !text.is_char_boundary(at) { at -= 1; }
            let mut end = (at + len).min(text.len());
            while !text.is_char_boundary(end) { end -= 1; }
            text.replace_range(at..end, "");
            let name = name.clone();
            let files: Vec<(&str, &str)> = texts.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
            let (_tmp, r) = load_texts(&files);
            if let Err(e) = r {
                for d in e.diagnostics() {
                    let fname = d.loc.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    let (_, t) = texts.iter().find(|(n, _)| *n == fname).ok_or_else(|| TestCaseError::fail(format!("unknown file in {d}")))?;
                    prop_assert!(d.loc.line >= 1 && d.loc.line as usize <= t.lines().count() + 1, "{} (cut from {})", d, name);
                }
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}
