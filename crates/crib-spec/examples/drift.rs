//! `cargo run -p crib-spec --example drift -- KERNEL_TREE`: print the drift
//! between kfunc-specs/ and a kernel tree (what `xtask patches check` uses).

fn main() -> std::process::ExitCode {
    let Some(tree) = std::env::args_os().nth(1) else {
        eprintln!("usage: drift KERNEL_TREE");
        return std::process::ExitCode::from(2);
    };
    let specs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kfunc-specs");
    let set = match crib_spec::load_dir(&specs) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let start = std::time::Instant::now();
    match crib_spec::drift::check_kernel_tree(&set, std::path::Path::new(&tree)) {
        Ok(d) => {
            for x in &d {
                println!("{x}");
            }
            eprintln!("{} drift(s) in {:?}", d.len(), start.elapsed());
            std::process::ExitCode::from(u8::from(!d.is_empty()))
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::from(2)
        }
    }
}
