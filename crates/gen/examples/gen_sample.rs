//! Prints events as NDJSON: `cargo run --release -p annal-gen --example gen_sample -- [N] [SEED]`.

use std::io::Write;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let config = annal_gen::GenConfig {
        count,
        seed,
        ..annal_gen::GenConfig::default()
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    annal_gen::write_ndjson(config, &mut out)?;
    out.flush()
}
