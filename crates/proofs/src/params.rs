//! The KZG parameters (SRS) every proof and verifying key is made with: the deterministic
//! development setup, cached on disk, or a ceremony's powers of tau read from a file whose
//! hash a chain pins (ADR 0014). A process chooses once with [`select`]; `parleyd` and
//! `parley-prover` always choose from their configuration. A process that never chooses (the
//! crate's tests and benches) uses the development setup.
//!
//! The development SRS is `ParamsKZG::setup(k, ChaCha20Rng::from_seed(SRS_SEED))` (computed by
//! [`generate_srs_seeded`], which gives the same bytes faster). `setup` draws the
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
use alloy_primitives::B256;
use halo2_base::halo2_proofs::{
    SerdeFormat,
    halo2curves::bn256::Bn256,
    poly::{commitment::Params, kzg::commitment::ParamsKZG},
};
use halo2_base::halo2_proofs::{
    arithmetic::parallelize,
    halo2curves::{
        CurveAffine,
        bn256::{Fr, G1, G1Affine, G2Affine},
        ff::{BatchInvert, Field, PrimeField},
        group::{Curve, Group, prime::PrimeCurveAffine},
        pairing::Engine,
    },
    poly::commitment::ParamsProver,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha3::{Digest, Keccak256};
use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
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
    generate_srs_seeded(k, SRS_SEED)
}

/// A setup for `k` whose secret is drawn from `seed`: a stand-in for another ceremony in
/// tests and rehearsals (its secret is as public as the seed).
///
/// The same parameters, byte for byte, as `ParamsKZG::setup(k, ChaCha20Rng::from_seed(seed))`
/// (tested), computed faster: `setup` multiplies the generator by every scalar with a generic
/// double-and-add and inverts each Lagrange denominator on its own, about 7 minutes at k = 21 on
/// two cores; here every scalar multiplication of the generator is 32 additions from a table of
/// its byte multiples, and the denominators are inverted in batches.
pub fn generate_srs_seeded(k: u32, seed: [u8; 32]) -> ParamsKZG<Bn256> {
    assert!(k <= Fr::S, "k = {k} is above the field's two-adicity");
    let n = 1usize << k;
    // The secret, drawn exactly as `setup` draws it.
    let s = Fr::random(ChaCha20Rng::from_seed(seed));
    let table = GeneratorTable::new();
    // Powers: g[i] = s^i · G.
    let mut g = vec![G1Affine::identity(); n];
    parallelize(&mut g, |out, start| {
        let mut x = s.pow_vartime([start as u64]);
        let mut proj = Vec::with_capacity(out.len());
        for _ in 0..out.len() {
            proj.push(table.mul(&x));
            x *= s;
        }
        G1::batch_normalize(&proj, out);
    });
    // Lagrange basis: g_lagrange[i] = L_i(s) · G with L_i(s) = (s^n − 1)/n · ω^i/(s − ω^i),
    // ω the primitive n-th root of unity `setup` uses.
    let mut omega = Fr::ROOT_OF_UNITY_INV
        .invert()
        .expect("a root of unity is invertible");
    for _ in k..Fr::S {
        omega = omega.square();
    }
    let n_inv = Fr::from(n as u64)
        .invert()
        .expect("n = 2^k is invertible in Fr");
    let multiplier = (s.pow_vartime([n as u64]) - Fr::ONE) * n_inv;
    let mut g_lagrange = vec![G1Affine::identity(); n];
    parallelize(&mut g_lagrange, |out, start| {
        let mut w = omega.pow_vartime([start as u64]);
        let mut roots = Vec::with_capacity(out.len());
        let mut denominators = Vec::with_capacity(out.len());
        for _ in 0..out.len() {
            roots.push(w);
            denominators.push(s - w);
            w *= omega;
        }
        // s is not an n-th root of unity except with negligible probability (`setup` unwraps
        // the same inversion).
        denominators.iter_mut().batch_invert();
        let proj: Vec<G1> = roots
            .iter()
            .zip(&denominators)
            .map(|(w, d)| table.mul(&(multiplier * w * d)))
            .collect();
        G1::batch_normalize(&proj, out);
    });
    let g2 = G2Affine::generator();
    let s_g2: G2Affine = (g2 * s).into();
    // `from_parts` is a method; any parameters serve as the receiver.
    ParamsKZG::<Bn256>::setup(1, ChaCha20Rng::from_seed([0; 32])).from_parts(
        k,
        g,
        Some(g_lagrange),
        g2,
        s_g2,
    )
}

/// Multiples of the G1 generator by every byte value at every byte position of a scalar:
/// `rows[j][d] = d · 256^j · G`, so `x · G` is one addition per non-zero byte of `x`.
struct GeneratorTable {
    rows: Vec<Vec<G1Affine>>,
}

impl GeneratorTable {
    fn new() -> Self {
        let mut base = G1::generator();
        let mut rows = Vec::with_capacity(32);
        for _ in 0..32 {
            let mut row = vec![G1::identity(); 256];
            for d in 1..256 {
                row[d] = row[d - 1] + base;
            }
            let mut affine = vec![G1Affine::identity(); 256];
            G1::batch_normalize(&row, &mut affine);
            rows.push(affine);
            base = row[255] + base;
        }
        Self { rows }
    }

    fn mul(&self, x: &Fr) -> G1 {
        let bytes = x.to_repr();
        let mut acc = G1::identity();
        for (row, &b) in self.rows.iter().zip(bytes.as_ref()) {
            if b != 0 {
                acc += row[usize::from(b)];
            }
        }
        acc
    }
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

/// Largest `k` a ceremony file may hold (2^28 points: 34 GiB, beyond any machine here).
const MAX_CEREMONY_K: u32 = 28;

/// A ceremony's powers of tau, as halo2 writes parameters (`Params::write`: k as u32 little
/// endian, the 2^k powers on G1, their Lagrange basis, then g2 and s·g2, uncompressed). This
/// is the format of the published halo2 conversions of the Perpetual Powers of Tau.
pub struct Ceremony {
    params: ParamsKZG<Bn256>,
    hash: B256,
    path: PathBuf,
}

impl std::fmt::Debug for Ceremony {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ceremony")
            .field("path", &self.path)
            .field("k", &self.params.k())
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl Ceremony {
    /// Reads a ceremony file. With `pinned`, a file whose keccak256 differs is refused before
    /// anything is decoded. Without it the caller must compare [`Self::hash`] with its pin
    /// before trusting a proof checked with it (a node learns the pin from genesis). Refused:
    /// a missing or unreadable file, a length that is not the one its `k` implies, a point
    /// that does not decode, and powers whose g·s on G1 and s·g2 do not pair.
    pub fn load(path: &Path, pinned: Option<B256>) -> Result<Self> {
        let bad = |reason: String| ProofError::Setup(format!("{}: {reason}", path.display()));
        let bytes =
            fs::read(path).map_err(|e| bad(format!("cannot read the ceremony file: {e}")))?;
        let hash = B256::from_slice(&Keccak256::digest(&bytes));
        if let Some(pin) = pinned
            && pin != hash
        {
            return Err(bad(format!(
                "keccak256 is {hash}, the pinned hash is {pin}: damaged, or another ceremony"
            )));
        }
        let k = bytes
            .get(..4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
            .ok_or_else(|| bad("shorter than its header".into()))?;
        if k == 0 || k > MAX_CEREMONY_K {
            return Err(bad(format!(
                "header says k = {k}, outside 1..={MAX_CEREMONY_K}"
            )));
        }
        // k, 2 * 2^k G1 points of 64 bytes, 2 G2 points of 128 bytes.
        let expected = 4 + (2usize << k) * 64 + 2 * 128;
        if bytes.len() != expected {
            return Err(bad(format!(
                "{} bytes, but a k = {k} file has {expected}: truncated or damaged",
                bytes.len()
            )));
        }
        // The length is checked, so the unchecked reader cannot run short (it would panic).
        // A point off the curve is caught by the pin or by the pairing check below.
        let params =
            ParamsKZG::<Bn256>::read_custom(&mut &bytes[..], SerdeFormat::RawBytesUnchecked)
                .map_err(|e| bad(format!("undecodable: {e}")))?;
        if !powers_pair(&params) {
            return Err(bad(
                "its first power on G1 does not pair with s·g2: not a powers-of-tau file".into(),
            ));
        }
        Ok(Self {
            params,
            hash,
            path: path.to_path_buf(),
        })
    }

    /// keccak256 of the file's bytes: what a chain pins.
    pub fn hash(&self) -> B256 {
        self.hash
    }

    /// Its `k` (the file holds 2^k powers).
    pub fn k(&self) -> u32 {
        self.params.k()
    }

    /// Where it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The parameters for a circuit of size `k`, downsized from the file's. Downsizing
    /// recomputes the Lagrange basis (an FFT over G1: about half a minute at k = 16 on two
    /// cores), so the result is cached in `<dir>/ceremony-<hash>/` in the checksummed cache
    /// format, and a restarted process reads it back.
    pub fn params_for_in(&self, dir: &Path, k: u32) -> Result<ParamsKZG<Bn256>> {
        if k > self.k() {
            return Err(ProofError::Setup(format!(
                "{} holds 2^{} powers; a circuit needs k = {k}",
                self.path.display(),
                self.k()
            )));
        }
        if k == self.k() {
            return Ok(self.params.clone());
        }
        let path = srs_path(&dir.join(format!("ceremony-{:x}", self.hash)), k);
        if path.exists() {
            return read_srs(&path, k);
        }
        let mut p = self.params.clone();
        p.downsize(k);
        write_srs(&path, &p)?;
        Ok(p)
    }

    /// [`Self::params_for_in`] with the cache in [`params_dir`].
    pub fn params_for(&self, k: u32) -> Result<ParamsKZG<Bn256>> {
        self.params_for_in(&params_dir(), k)
    }
}

/// e(g1·s, g2) = e(g1, g2·s): the file's second power and its s·g2 come from one secret, and
/// its points lie on the curves (a point off them does not pair like this).
fn powers_pair(p: &ParamsKZG<Bn256>) -> bool {
    let g = p.get_g();
    let (Some(g0), Some(g1)) = (g.first(), g.get(1)) else {
        return false;
    };
    let on_curve = |a: &G1Affine| bool::from(a.is_on_curve());
    let on_curve2 = |a: &G2Affine| bool::from(a.is_on_curve());
    on_curve(g0)
        && on_curve(g1)
        && on_curve2(&p.g2())
        && on_curve2(&p.s_g2())
        && Bn256::pairing(g1, &p.g2()) == Bn256::pairing(g0, &p.s_g2())
}

/// Writes `params` as a ceremony file (halo2's `Params::write` layout). Used to rehearse the
/// ceremony path with the development setup; a real chain's file comes from a ceremony.
pub fn write_ceremony_file(path: &Path, params: &ParamsKZG<Bn256>) -> Result<B256> {
    let mut body = Vec::new();
    params
        .write_custom(&mut body, SerdeFormat::RawBytes)
        .map_err(io_err(path))?;
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    fs::write(path, &body).map_err(io_err(path))?;
    Ok(B256::from_slice(&Keccak256::digest(&body)))
}

/// The trusted setup a process uses.
#[derive(Debug, Clone)]
pub enum Srs {
    /// The seeded development setup: anyone can recompute its secret and forge proofs.
    Dev,
    /// A ceremony's powers of tau.
    Ceremony(Arc<Ceremony>),
    /// None was configured: every proof, key and verifier is refused, naming the setting.
    Unset(String),
}

static SELECTED: OnceLock<Srs> = OnceLock::new();

/// Chooses this process's setup, once (a second call with another choice is refused).
pub fn select(srs: Srs) -> Result<()> {
    let same = |a: &Srs, b: &Srs| match (a, b) {
        (Srs::Dev, Srs::Dev) => true,
        (Srs::Ceremony(x), Srs::Ceremony(y)) => x.hash == y.hash,
        (Srs::Unset(_), Srs::Unset(_)) => true,
        _ => false,
    };
    let chosen = SELECTED.get_or_init(|| srs.clone());
    if same(chosen, &srs) {
        Ok(())
    } else {
        Err(ProofError::Setup(format!(
            "this process already uses {chosen:?}, it cannot switch to {srs:?}"
        )))
    }
}

/// The setup this process uses: the one [`select`]ed, else the development setup.
pub fn selected() -> Srs {
    SELECTED.get().cloned().unwrap_or(Srs::Dev)
}

/// The SRS for `k` from the cache in `dir`, generating (and caching) it when absent.
///
/// It is generated, never downsized from a larger cached one: the two are the same bytes
/// (tested), but halo2's `downsize` recomputes the Lagrange basis with an FFT over curve
/// points, one scalar multiplication per butterfly. From k = 21 to k = 20 that made CI's
/// aggregation keygen take 1,070 s and 1,856 s on two cores, against about 144 s with k = 20
/// cached; generating k = 20 should take about half of k = 21's 53 s (not timed alone).
pub fn load_dev_srs_in(dir: &Path, k: u32) -> Result<ParamsKZG<Bn256>> {
    let path = srs_path(dir, k);
    if path.exists() {
        return read_srs(&path, k);
    }
    let params = generate_srs(k);
    write_srs(&path, &params)?;
    Ok(params)
}

/// The SRS for a circuit of size `k` from the [`selected`] setup (the development one from
/// the cache in `dir`).
pub fn load_srs_in(dir: &Path, k: u32) -> Result<ParamsKZG<Bn256>> {
    match selected() {
        Srs::Dev => load_dev_srs_in(dir, k),
        Srs::Ceremony(c) => c.params_for_in(dir, k),
        Srs::Unset(why) => Err(ProofError::Setup(why)),
    }
}

/// [`load_srs_in`] on [`params_dir`].
pub fn load_srs(k: u32) -> Result<ParamsKZG<Bn256>> {
    load_srs_in(&params_dir(), k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_setup_is_halo2s_setup_byte_for_byte() {
        let bytes = |p: &ParamsKZG<Bn256>| {
            let mut v = Vec::new();
            p.write_custom(&mut v, SerdeFormat::RawBytes)
                .expect("serialize");
            v
        };
        for (k, seed) in [(1, SRS_SEED), (5, SRS_SEED), (9, [7; 32])] {
            let ours = generate_srs_seeded(k, seed);
            let halo2 = ParamsKZG::<Bn256>::setup(k, ChaCha20Rng::from_seed(seed));
            assert_eq!(bytes(&ours), bytes(&halo2), "k = {k}");
        }
        // Every byte position and value of a scalar reaches the table's sum.
        let table = GeneratorTable::new();
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        for x in [Fr::ZERO, Fr::ONE, -Fr::ONE, Fr::random(&mut rng)] {
            assert_eq!(table.mul(&x), G1::generator() * x);
        }
    }

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

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("parley-ceremony-{}-{name}", std::process::id()))
    }

    #[test]
    fn a_ceremony_file_loads_under_its_pin_and_downsizes() {
        let path = temp("good.srs");
        let hash = write_ceremony_file(&path, &generate_srs(8)).expect("write");
        assert_eq!(
            hash,
            B256::from_slice(&Keccak256::digest(fs::read(&path).expect("read")))
        );
        let c = Ceremony::load(&path, Some(hash)).expect("load under its pin");
        assert_eq!((c.k(), c.hash()), (8, hash));
        let cache = temp("cache");
        let small = c.params_for_in(&cache, 6).expect("downsize");
        let dev = generate_srs(6);
        assert_eq!(small.get_g(), dev.get_g());
        assert_eq!(small.s_g2(), dev.s_g2());
        // Read back from the cache: the same parameters, Lagrange basis included.
        let cached = c.params_for_in(&cache, 6).expect("cached");
        let bytes = |p: &ParamsKZG<Bn256>| {
            let mut v = Vec::new();
            p.write_custom(&mut v, SerdeFormat::RawBytes)
                .expect("serialize");
            v
        };
        assert_eq!(bytes(&cached), bytes(&dev));
        let _ = fs::remove_dir_all(&cache);
        let err = c
            .params_for_in(&cache, 9)
            .expect_err("larger than the file");
        assert!(err.to_string().contains("needs k = 9"), "{err}");
        let _ = fs::remove_file(&path);
    }

    #[test]
    fn a_missing_damaged_or_foreign_ceremony_file_is_refused() {
        let path = temp("bad.srs");
        let hash = write_ceremony_file(&path, &generate_srs(6)).expect("write");
        let good = fs::read(&path).expect("read");
        let refused = |bytes: Option<&[u8]>, pin: Option<B256>, says: &str| {
            match bytes {
                Some(b) => fs::write(&path, b).expect("write"),
                None => {
                    let _ = fs::remove_file(&path);
                }
            }
            let err = Ceremony::load(&path, pin).expect_err(says);
            assert!(matches!(err, ProofError::Setup(_)), "{err}");
            assert!(err.to_string().contains(says), "{err} should say {says}");
        };
        // One flipped bit anywhere (here deep in the Lagrange basis) fails the pin.
        let mut flipped = good.clone();
        let mid = flipped.len() / 2 + 3;
        flipped[mid] ^= 1;
        refused(Some(&flipped), Some(hash), "the pinned hash is");
        // Without a pin, a damaged second power no longer pairs with s·g2.
        let mut g1 = good.clone();
        g1[4 + 64 + 7] ^= 1;
        refused(Some(&g1), None, "does not pair");
        refused(Some(&good[..good.len() - 1]), None, "truncated or damaged");
        refused(Some(&good[..2]), None, "shorter than its header");
        let mut huge = good.clone();
        huge[..4].copy_from_slice(&40u32.to_le_bytes());
        refused(Some(&huge), None, "outside 1..=28");
        // Another ceremony (another secret) is well formed, and not the pinned one.
        let other = generate_srs_seeded(6, [9; 32]);
        write_ceremony_file(&path, &other).expect("write");
        assert!(Ceremony::load(&path, None).is_ok(), "well formed");
        refused(None, Some(hash), "cannot read");
        write_ceremony_file(&path, &other).expect("write");
        refused(
            Some(&fs::read(&path).expect("read")),
            Some(hash),
            "the pinned hash is",
        );
        let _ = fs::remove_file(&path);
    }
}
