//! Compiling the C tests with the system C compiler (`CC`, default `cc`).

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{cc}: cannot run: {cause}")]
    NoCompiler { cc: String, cause: std::io::Error },
    #[error("compiling {test} failed:\n{stderr}")]
    Compile { test: String, stderr: String },
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
}

fn mtime(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Build `src/static/NAME.c` + the protocol library into `out/bin/NAME`
/// (skipped when the binary is newer than every source).
pub fn build_test(src: &Path, name: &str, out: &Path) -> Result<PathBuf, BuildError> {
    let bin_dir = out.join("bin");
    std::fs::create_dir_all(&bin_dir).map_err(|source| BuildError::Io {
        path: bin_dir.clone(),
        cause: source,
    })?;
    let bin = bin_dir.join(name);
    let lib = src.join("lib");
    let inputs = [
        src.join("static").join(format!("{name}.c")),
        lib.join("zdtmtst.c"),
        lib.join("zdtmtst.h"),
    ];
    compile(&inputs, &lib, &bin, name)
}

/// Build a standalone tool `src/tools/NAME.c` into `out/bin/NAME`.
pub fn build_tool(src: &Path, name: &str, out: &Path) -> Result<PathBuf, BuildError> {
    let bin_dir = out.join("bin");
    std::fs::create_dir_all(&bin_dir).map_err(|source| BuildError::Io {
        path: bin_dir.clone(),
        cause: source,
    })?;
    let source = src.join("tools").join(format!("{name}.c"));
    compile(
        &[source.clone(), source],
        &src.join("tools"),
        &bin_dir.join(name),
        name,
    )
}

/// `inputs[0..2]` are compiled (equal paths compile once); all are dependencies.
fn compile(
    inputs: &[PathBuf],
    include: &Path,
    bin: &Path,
    name: &str,
) -> Result<PathBuf, BuildError> {
    let bin = bin.to_path_buf();
    let lib = include;
    if let Some(b) = mtime(&bin) {
        if inputs.iter().all(|i| mtime(i).is_some_and(|m| m <= b)) {
            return Ok(bin);
        }
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    // Unique per thread: parallel tests may build the same tool.
    let tmp = bin.with_extension(format!(
        "tmp.{}.{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let o = Command::new(&cc)
        .args(["-O1", "-g", "-Wall", "-Werror", "-I"])
        .arg(lib)
        .arg(&inputs[0])
        .args((inputs[1] != inputs[0]).then_some(&inputs[1]))
        .arg("-o")
        .arg(&tmp)
        .output()
        .map_err(|source| BuildError::NoCompiler {
            cc: cc.clone(),
            cause: source,
        })?;
    if !o.status.success() {
        return Err(BuildError::Compile {
            test: name.into(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        });
    }
    std::fs::rename(&tmp, &bin).map_err(|source| BuildError::Io {
        path: bin.clone(),
        cause: source,
    })?;
    Ok(bin)
}
