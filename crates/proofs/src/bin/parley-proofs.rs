//! `parley-proofs`: parameter generation and benchmark figures for the proofs crate.
//!
//! ```text
//! parley-proofs srs <k>            generate / check the cached deterministic SRS for k
//! parley-proofs srs hash <file>    check a ceremony file, print its k and keccak256 (the pin)
//! parley-proofs srs export <k> <file> [seed]   write the development SRS (or, with a seed
//!                                  text, a setup whose secret comes from it) as a ceremony
//!                                  file: rehearses the ceremony path; anyone can forge with it
//! parley-proofs bench [what...]    print benchmark figures (see docs/proofs.md)
//! parley-proofs verifier <capacity> <blocks> <out.sol>   write the L1 (compression) verifier
//! ```
#![allow(clippy::print_stdout, clippy::disallowed_methods)]

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("srs") if args.get(1).map(String::as_str) == Some("hash") => {
            let path = args.get(2).ok_or("usage: srs hash <file>")?;
            let c = parley_proofs::params::Ceremony::load(std::path::Path::new(path), None)?;
            println!("k {} keccak256 {}", c.k(), c.hash());
            Ok(())
        }
        Some("srs") if args.get(1).map(String::as_str) == Some("export") => {
            let usage = "usage: srs export <k> <file> [seed]";
            let k: u32 = args.get(2).ok_or(usage)?.parse()?;
            let path = args.get(3).ok_or(usage)?;
            let params = match args.get(4) {
                None => parley_proofs::params::load_dev_srs_in(&parley_proofs::params::params_dir(), k)?,
                Some(seed) => {
                    use sha3::Digest as _;
                    let seed: [u8; 32] = sha3::Keccak256::digest(seed.as_bytes()).into();
                    parley_proofs::params::generate_srs_seeded(k, seed)
                }
            };
            let hash = parley_proofs::params::write_ceremony_file(std::path::Path::new(path), &params)?;
            println!("k {k} keccak256 {hash}: written to {path} (a rehearsal setup: its secret is public)");
            Ok(())
        }
        Some("srs") => {
            let k: u32 = args.get(1).ok_or("usage: srs <k>")?.parse()?;
            let t = std::time::Instant::now();
            let _ = parley_proofs::params::load_srs(k)?;
            println!("srs k={k} ready in {:.1}s at {}", t.elapsed().as_secs_f64(), parley_proofs::params::params_dir().display());
            Ok(())
        }
        Some("bench") => parley_proofs::bench::run(&args[1..]),
        Some("verifier") => {
            // verifier <block capacity> <blocks per epoch> <out.sol>
            let cap: usize = args.get(1).ok_or("usage: verifier <capacity> <blocks> <out.sol>")?.parse()?;
            let n: usize = args.get(2).ok_or("usage: verifier <capacity> <blocks> <out.sol>")?.parse()?;
            let out = args.get(3).ok_or("usage: verifier <capacity> <blocks> <out.sol>")?;
            let block = parley_proofs::Halo2BlockProver::setup(cap)?;
            let agg = parley_proofs::aggregation::EpochAggregator::setup(
                &block,
                n,
                parley_proofs::aggregation::layer1_degree(n),
            )?;
            let compressor = parley_proofs::aggregation::EpochCompressor::setup(
                &agg,
                parley_proofs::aggregation::DEFAULT_COMPRESS_K,
            )?;
            std::fs::write(out, compressor.solidity_verifier())?;
            println!(
                "block vk hash {} (capacity {cap}), epoch vk hash {} ({n} blocks), compression vk hash {}: verifier written to {out}",
                parley_proofs::BlockProver::vk_hash(&block),
                agg.vk_hash(),
                compressor.vk_hash()
            );
            Ok(())
        }
        _ => Err("usage: parley-proofs srs <k> | srs hash <file> | srs export <k> <file> [seed] | bench [cells|tree|block N [chip|flex]|compare N...|agg N|agg-tree N C [M]|prove-loop CAP TRANSFERS SECONDS|srs [k...]|keys [capacity...]|all] | verifier <capacity> <blocks> <out.sol>".into()),
    }
}
