//! Deterministic KZG parameters (SRS), cached on disk.
//!
//! The SRS is `ParamsKZG::setup(k, ChaCha20Rng::from_seed(SRS_SEED))`. `setup` draws the
//! toxic secret first, so every `k` shares the same secret: the parameters for a small `k` are
//! exactly the downsized parameters of a larger one, and block proofs and their aggregation
//! verify against one pairing. This is a **test/localnet** setup: anyone can recompute the
//! secret from the seed. A production chain replaces it with a ceremony's powers of tau.
//!
//! Cache files: `<dir>/kzg_bn254_<k>.srs` = `PARLEY-SRS-1\n` ‖ k (u32 BE) ‖ keccak256(body) ‖
//! body (halo2 `RawBytes`). The directory is `$PARLEY_PARAMS_DIR`, else `<workspace>/.params`.
//! A file with a bad magic, checksum or length is reported as [`ProofError::DamagedCache`]; it
//! is never silently regenerated over, so an operator notices a damaged disk.

use crate::error::{ProofError, Result, io_err};
use halo2_base::halo2_proofs::{
    SerdeFormat,
    halo2curves::bn256::Bn256,
    poly::{commitment::Params, kzg::commitment::ParamsKZG},
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha3::{Digest, Keccak256};
use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

/// Seed of the deterministic SRS (ASCII, zero padded).
pub const SRS_SEED: [u8; 32] = *b"parley-localnet-srs-v1\0\0\0\0\0\0\0\0\0\0";

const MAGIC: &[u8] = b"PARLEY-SRS-1\n";

/// Directory of the parameter cache.
pub fn params_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("PARLEY_PARAMS_DIR") {
        return PathBuf::from(d);
    }
    // crates/proofs -> workspace root
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.params")
}

fn srs_path(dir: &Path, k: u32) -> PathBuf {
    dir.join(format!("kzg_bn254_{k}.srs"))
}

/// Generate the deterministic SRS for `k` (no cache).
pub fn generate_srs(k: u32) -> ParamsKZG<Bn256> {
    ParamsKZG::<Bn256>::setup(k, ChaCha20Rng::from_seed(SRS_SEED))
}

/// Write parameters in the cache format (atomically: temp file + rename).
pub fn write_srs(path: &Path, params: &ParamsKZG<Bn256>) -> Result<()> {
    let mut body = Vec::new();
    params
        .write_custom(&mut body, SerdeFormat::RawBytes)
        .map_err(io_err(path))?;
    let digest = Keccak256::digest(&body);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    // One temp file per writer: processes that generate the same SRS at once (test binaries,
    // localnet nodes) must not write into each other's file before the rename.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
    let mut f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(MAGIC).map_err(io_err(&tmp))?;
    f.write_all(&params.k().to_be_bytes())
        .map_err(io_err(&tmp))?;
    f.write_all(&digest).map_err(io_err(&tmp))?;
    f.write_all(&body).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))?;
    Ok(())
}

/// Read a cache file, checking magic, k and checksum.
pub fn read_srs(path: &Path, k: u32) -> Result<ParamsKZG<Bn256>> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let damaged = |reason: &str| ProofError::DamagedCache {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let header = MAGIC.len() + 4 + 32;
    if bytes.len() < header || &bytes[..MAGIC.len()] != MAGIC {
        return Err(damaged("bad magic or truncated header"));
    }
    let file_k = u32::from_be_bytes(
        bytes[MAGIC.len()..MAGIC.len() + 4]
            .try_into()
            .expect("4 bytes"),
    );
    if file_k != k {
        return Err(damaged(&format!("holds k = {file_k}, expected {k}")));
    }
    let body = &bytes[header..];
    if Keccak256::digest(body)[..] != bytes[MAGIC.len() + 4..header] {
        return Err(damaged("checksum mismatch"));
    }
    // The keccak checksum above already guarantees the bytes are the ones we wrote (from a
    // validated in-memory SRS), so skip the per-point curve checks (minutes at k = 20).
    let params = ParamsKZG::<Bn256>::read_custom(&mut &body[..], SerdeFormat::RawBytesUnchecked)
        .map_err(|e| damaged(&format!("undecodable: {e}")))?;
    if params.k() != k {
        return Err(damaged("decoded k differs"));
    }
    Ok(params)
}

/// The SRS for `k` from the cache in `dir`, generating (and caching) it when absent. A
/// larger cached SRS is downsized instead of generating anew.
pub fn load_srs_in(dir: &Path, k: u32) -> Result<ParamsKZG<Bn256>> {
    let path = srs_path(dir, k);
    if path.exists() {
        return read_srs(&path, k);
    }
    for bigger in (k + 1)..=28 {
        let p = srs_path(dir, bigger);
        if p.exists() {
            let mut params = read_srs(&p, bigger)?;
            params.downsize(k);
            write_srs(&path, &params)?;
            return Ok(params);
        }
    }
    let params = generate_srs(k);
    write_srs(&path, &params)?;
    Ok(params)
}

/// [`load_srs_in`] on [`params_dir`].
pub fn load_srs(k: u32) -> Result<ParamsKZG<Bn256>> {
    load_srs_in(&params_dir(), k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_base::halo2_proofs::poly::commitment::ParamsProver;

    #[test]
    fn srs_is_deterministic_and_downsizes() {
        let a = generate_srs(6);
        let mut b = generate_srs(8);
        b.downsize(6);
        assert_eq!(a.get_g(), b.get_g());
        assert_eq!(a.s_g2(), b.s_g2());
    }

    #[test]
    fn damaged_cache_is_reported() {
        let dir = std::env::temp_dir().join(format!("parley-srs-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let p = load_srs_in(&dir, 5).expect("generate");
        let again = load_srs_in(&dir, 5).expect("read back");
        assert_eq!(p.get_g(), again.get_g());
        let path = srs_path(&dir, 5);
        let mut bytes = fs::read(&path).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, &bytes).expect("write");
        let err = load_srs_in(&dir, 5).expect_err("damaged");
        assert!(matches!(err, ProofError::DamagedCache { .. }), "{err}");
        fs::write(&path, &bytes[..10]).expect("truncate");
        assert!(matches!(
            load_srs_in(&dir, 5),
            Err(ProofError::DamagedCache { .. })
        ));
        let _ = fs::remove_dir_all(&dir);
    }
}
