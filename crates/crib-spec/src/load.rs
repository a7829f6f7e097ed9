//! Reading spec files: TOML → [`raw`](crate::raw) → [`model`](crate::model),
//! then [`validate`](crate::validate). Per-item problems (a declaration
//! that does not parse, an unknown flag) are found here, where the TOML
//! spans still exist; rules across items live in `validate`.

use crate::cdecl::{parse_named, parse_type};
use crate::error::{Diagnostic, SpecError};
use crate::model::*;
use crate::raw::{RawFamily, RawKfunc, RawOpaque, RawStruct, S};
use crate::spans::{KfuncSpans, SpanTable, StructSpans};
use crate::validate;
use std::path::{Path, PathBuf};

/// Load and validate every `*.toml` of `dir` (sorted by file name).
///
/// When `<dir>/../kernel-patches/series` exists, every crib kfunc's
/// `patch` must be listed in it; without that file the check is skipped.
pub fn load_dir(dir: &Path) -> Result<SpecSet, SpecError> {
    let files = spec_files(dir)?;
    if files.is_empty() {
        return Err(SpecError::Empty {
            dir: dir.to_path_buf(),
        });
    }
    load_files(&files, &series_path(dir))
}

/// Load and validate one spec file on its own (its types must resolve
/// within the file). The series file is looked up as for its directory.
pub fn load_file(path: &Path) -> Result<SpecSet, SpecError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    load_files(&[path.to_path_buf()], &series_path(dir))
}

/// Parse one file into a [`Family`] without the cross-item rules.
pub fn parse_file(path: &Path) -> Result<Family, SpecError> {
    let text = read(path)?;
    let mut diags = Vec::new();
    let mut spans = SpanTable::default();
    let fam = parse_family(path, &text, 0, &mut spans, &mut diags);
    match fam {
        Some(f) if diags.is_empty() => Ok(f),
        _ => Err(SpecError::Invalid { diagnostics: diags }),
    }
}

/// `<spec dir>/../kernel-patches/series`.
pub fn series_path(spec_dir: &Path) -> PathBuf {
    let parent = match spec_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => spec_dir.join(".."),
    };
    parent.join("kernel-patches").join("series")
}

fn load_files(files: &[PathBuf], series: &Path) -> Result<SpecSet, SpecError> {
    let mut diags = Vec::new();
    let mut spans = SpanTable::default();
    let mut set = SpecSet::default();
    for path in files {
        let text = read(path)?;
        let idx = set.families.len();
        if let Some(f) = parse_family(path, &text, idx, &mut spans, &mut diags) {
            set.families.push(f);
        }
    }
    if diags.is_empty() {
        let series_text = match std::fs::read_to_string(series) {
            Ok(t) => Some((series.to_path_buf(), t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(SpecError::Io {
                    path: series.to_path_buf(),
                    source,
                })
            }
        };
        diags.extend(validate::run(&set, &spans, series_text.as_ref()));
    }
    if diags.is_empty() {
        Ok(set)
    } else {
        // Report in file and line order (stable: rule order within a line).
        diags.sort_by(|a, b| (&a.loc.file, a.loc.line).cmp(&(&b.loc.file, b.loc.line)));
        diags.dedup();
        Err(SpecError::Invalid { diagnostics: diags })
    }
}

fn spec_files(dir: &Path) -> Result<Vec<PathBuf>, SpecError> {
    let io = |source| SpecError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn read(path: &Path) -> Result<String, SpecError> {
    std::fs::read_to_string(path).map_err(|source| SpecError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Byte offset → 1-based line number.
struct Lines<'a> {
    file: &'a Path,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(file: &'a Path, text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { file, starts }
    }
    fn at(&self, offset: usize) -> Loc {
        let line = self.starts.partition_point(|&s| s <= offset);
        Loc {
            file: self.file.to_path_buf(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
        }
    }
    fn of<T>(&self, s: &S<T>) -> Loc {
        self.at(s.span().start)
    }
}

fn parse_family(
    path: &Path,
    text: &str,
    fam_idx: usize,
    spans: &mut SpanTable,
    diags: &mut Vec<Diagnostic>,
) -> Option<Family> {
    let lines = Lines::new(path, text);
    let raw: RawFamily = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let loc = lines.at(e.span().map(|s| s.start).unwrap_or(0));
            let msg = e.message().trim().replace('\n', " ");
            diags.push(Diagnostic::new(&loc, msg));
            return None;
        }
    };
    let floc = lines.of(&raw.family);
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if raw.family.get_ref() != stem {
        diags.push(Diagnostic::new(
            &floc,
            format!(
                "family `{}` must equal the file name stem `{stem}`",
                raw.family.get_ref()
            ),
        ));
    }
    let mut fam = Family {
        name: raw.family.get_ref().clone(),
        doc: raw.doc.map(|d| d.into_inner()).unwrap_or_default(),
        loc: floc,
        kernel_types: Vec::new(),
        ..Family::default()
    };
    for kt in &raw.kernel_types {
        spans
            .kernel_types
            .insert((fam_idx, kt.get_ref().clone()), lines.of(kt));
        fam.kernel_types.push(kt.get_ref().clone());
    }
    for rk in &raw.kfuncs {
        if let Some((k, ks)) = kfunc(&lines, rk, diags) {
            spans.kfuncs.insert((fam_idx, fam.kfuncs.len()), ks);
            fam.kfuncs.push(k);
        }
    }
    for rs in &raw.structs {
        if let Some((s, ss)) = versioned_struct(&lines, rs, diags) {
            spans.structs.insert((fam_idx, fam.structs.len()), ss);
            fam.structs.push(s);
        }
    }
    for ro in &raw.opaques {
        if let Some(o) = opaque(&lines, ro, diags) {
            fam.opaques.push(o);
        }
    }
    for rc in &raw.consts {
        fam.consts.push(Constant {
            name: rc.name.get_ref().clone(),
            value: *rc.value.get_ref(),
            doc: rc.doc.clone(),
            loc: lines.of(&rc.name),
        });
    }
    Some(fam)
}

fn kfunc(
    lines: &Lines<'_>,
    rk: &RawKfunc,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Kfunc, KfuncSpans)> {
    let n0 = diags.len();
    let loc = lines.of(&rk.name);
    let ret = parse_type(rk.ret.get_ref())
        .map_err(|e| diags.push(Diagnostic::new(&lines.of(&rk.ret), format!("ret: {e}"))))
        .ok();
    let mut args = Vec::new();
    let mut arg_locs = Vec::new();
    for a in &rk.args {
        let aloc = lines.of(a);
        match parse_named(a.get_ref()) {
            Ok((ty, name)) => args.push(Arg { name, ty }),
            Err(e) => diags.push(Diagnostic::new(&aloc, format!("arg: {e}"))),
        }
        arg_locs.push(aloc);
    }
    let mut flags = Vec::new();
    for f in &rk.flags {
        let floc = lines.of(f);
        match KfFlag::from_c_name(f.get_ref()) {
            Some(fl) if flags.contains(&fl) => diags.push(Diagnostic::new(
                &floc,
                format!("duplicate flag `{}`", f.get_ref()),
            )),
            Some(fl) => flags.push(fl),
            None => diags.push(Diagnostic::new(
                &floc,
                format!(
                    "unknown flag `{}` (known: {})",
                    f.get_ref(),
                    KfFlag::ALL.map(KfFlag::c_name).join(", ")
                ),
            )),
        }
    }
    let ptloc = lines.of(&rk.prog_types);
    let mut prog_types = Vec::new();
    for p in rk.prog_types.get_ref() {
        match ProgType::from_spec_name(p.get_ref()) {
            Some(pt) if prog_types.contains(&pt) => diags.push(Diagnostic::new(
                &lines.of(p),
                format!("duplicate program type `{}`", p.get_ref()),
            )),
            Some(pt) => prog_types.push(pt),
            None => diags.push(Diagnostic::new(
                &lines.of(p),
                format!(
                    "unknown program type `{}` (known: crib, syscall, tracing, lsm, any)",
                    p.get_ref()
                ),
            )),
        }
    }
    if rk.prog_types.get_ref().is_empty() {
        diags.push(Diagnostic::new(&ptloc, "prog_types must not be empty"));
    }
    let origin = origin(lines, rk, diags);
    let doc = rk.doc.get_ref().trim().to_string();
    if doc.is_empty() || doc.contains('\n') {
        diags.push(Diagnostic::new(
            &lines.of(&rk.doc),
            "doc must be one non-empty line",
        ));
    }
    if diags.len() != n0 {
        return None;
    }
    let (ret, origin) = (ret?, origin?);
    let required = rk.required.unwrap_or(origin.is_crib());
    let spans = KfuncSpans {
        ret: lines.of(&rk.ret),
        args: arg_locs,
        origin: lines.of(&rk.origin),
        patch: rk.patch.as_ref().map(|p| lines.of(p)),
    };
    Some((
        Kfunc {
            name: rk.name.get_ref().clone(),
            ret,
            args,
            flags,
            prog_types,
            origin,
            required,
            doc,
            loc,
        },
        spans,
    ))
}

fn origin(lines: &Lines<'_>, rk: &RawKfunc, diags: &mut Vec<Diagnostic>) -> Option<Origin> {
    let oloc = lines.of(&rk.origin);
    let mut bad = |s: &Option<S<String>>, msg: &str| {
        if let Some(s) = s {
            diags.push(Diagnostic::new(&lines.of(s), msg));
        }
    };
    match rk.origin.get_ref().as_str() {
        "crib" => {
            bad(
                &rk.since,
                "`since` is for upstream kfuncs; a crib kfunc that mainline gained later uses `upstream_since`",
            );
            let upstream_since = rk
                .upstream_since
                .as_ref()
                .and_then(|v| version(lines, v, diags));
            match &rk.patch {
                Some(p) if !p.get_ref().trim().is_empty() => Some(Origin::Crib {
                    patch: p.get_ref().trim().to_string(),
                    upstream_since,
                }),
                _ => {
                    diags.push(Diagnostic::new(
                        &oloc,
                        "origin = \"crib\" needs `patch` (the series file that adds the kfunc)",
                    ));
                    None
                }
            }
        }
        "upstream" => {
            bad(&rk.patch, "`patch` is only for origin = \"crib\"");
            bad(
                &rk.upstream_since,
                "`upstream_since` is only for origin = \"crib\"; use `since`",
            );
            match &rk.since {
                Some(v) => version(lines, v, diags).map(|since| Origin::Upstream { since }),
                None => {
                    diags.push(Diagnostic::new(
                        &oloc,
                        "origin = \"upstream\" needs `since` (the first mainline version)",
                    ));
                    None
                }
            }
        }
        other => {
            diags.push(Diagnostic::new(
                &oloc,
                format!("unknown origin `{other}` (expected \"crib\" or \"upstream\")"),
            ));
            None
        }
    }
}

/// A kernel version `MAJOR.MINOR`.
fn version(lines: &Lines<'_>, v: &S<String>, diags: &mut Vec<Diagnostic>) -> Option<String> {
    let s = v.get_ref().trim();
    let ok = s
        .split_once('.')
        .is_some_and(|(a, b)| is_num(a) && is_num(b));
    if ok {
        Some(s.to_string())
    } else {
        diags.push(Diagnostic::new(
            &lines.of(v),
            format!("bad kernel version `{s}` (expected MAJOR.MINOR, e.g. 6.13)"),
        ));
        None
    }
}

fn is_num(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn versioned_struct(
    lines: &Lines<'_>,
    rs: &RawStruct,
    diags: &mut Vec<Diagnostic>,
) -> Option<(VersionedStruct, StructSpans)> {
    let n0 = diags.len();
    let mut fields = Vec::new();
    for rf in rs.fields.get_ref() {
        let floc = lines.of(&rf.decl);
        let since = match u32::try_from(*rf.since.get_ref()) {
            Ok(v) => v,
            Err(_) => {
                diags.push(Diagnostic::new(
                    &lines.of(&rf.since),
                    format!("since = {} is not a version number", rf.since.get_ref()),
                ));
                continue;
            }
        };
        match parse_named(rf.decl.get_ref()) {
            Ok((ty, name)) => fields.push(Field {
                name,
                ty,
                since,
                doc: rf.doc.trim().to_string(),
                loc: floc,
            }),
            Err(e) => diags.push(Diagnostic::new(&floc, format!("field: {e}"))),
        }
    }
    if diags.len() != n0 {
        return None;
    }
    let spans = StructSpans {
        size_member: lines.of(&rs.size_member),
        version_member: rs.version_member.as_ref().map(|v| lines.of(v)),
        fields: lines.of(&rs.fields),
    };
    Some((
        VersionedStruct {
            name: rs.name.get_ref().clone(),
            doc: rs
                .doc
                .as_ref()
                .map(|d| d.get_ref().trim().to_string())
                .unwrap_or_default(),
            size_member: rs.size_member.get_ref().clone(),
            version_member: rs.version_member.as_ref().map(|v| v.get_ref().clone()),
            fields,
            loc: lines.of(&rs.name),
        },
        spans,
    ))
}

/// Opaque state larger than this many words is surely a typo.
const MAX_OPAQUE_WORDS: i64 = 64;

fn opaque(lines: &Lines<'_>, ro: &RawOpaque, diags: &mut Vec<Diagnostic>) -> Option<OpaqueStruct> {
    let words = *ro.words.get_ref();
    if !(1..=MAX_OPAQUE_WORDS).contains(&words) {
        diags.push(Diagnostic::new(
            &lines.of(&ro.words),
            format!("words = {words} is out of range 1..={MAX_OPAQUE_WORDS}"),
        ));
        return None;
    }
    let upstream = match ro.origin.as_ref().map(|o| o.get_ref().as_str()) {
        None | Some("crib") => false,
        Some("upstream") => true,
        Some(other) => {
            let loc = ro.origin.as_ref().map(|o| lines.of(o)).unwrap_or_default();
            diags.push(Diagnostic::new(
                &loc,
                format!("unknown origin `{other}` (expected \"crib\" or \"upstream\")"),
            ));
            return None;
        }
    };
    Some(OpaqueStruct {
        name: ro.name.get_ref().clone(),
        words: u32::try_from(words).unwrap_or(1),
        upstream,
        doc: ro.doc.trim().to_string(),
        loc: lines.of(&ro.name),
    })
}
