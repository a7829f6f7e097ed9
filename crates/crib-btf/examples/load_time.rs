//! Time reading + indexing kernel BTF files: `cargo run --release -p crib-btf --example load_time -- FILE...`
use std::time::Instant;
fn main() {
    for path in std::env::args().skip(1) {
        let t = Instant::now();
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        let t_read = t.elapsed();
        let mut best = f64::MAX;
        for _ in 0..20 {
            let d = data.clone();
            let t = Instant::now();
            let r = crib_btf::Btf::parse(d);
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
            if let Err(e) = r {
                eprintln!("{path}: {e}");
                return;
            }
        }
        println!(
            "{path}: read {:.2} ms, parse+index best of 20 {best:.2} ms",
            t_read.as_secs_f64() * 1e3
        );
    }
}
