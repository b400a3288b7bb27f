//! The block prover's keys cached on disk (DESIGN §4: keygen takes seconds to minutes, so a
//! restarted worker reads its proving key instead of making it again), the epoch
//! aggregator's proving key (minutes of keygen for a worker that aggregates,
//! [`epoch_pk_path`]), and the epoch verifier's verifying key (a node checks `Aggregate`s with
//! it; making it takes minutes and gigabytes, [`epoch_vk_path`]).
//!
//! File: `<dir>/block-pk-<vk hash>.bin` = `PARLEY-PK-1\n` ‖ keccak256(body) ‖ body, where body
//! = circuit (u64 BE: the capacity in the low 56 bits, the index bits of ADR 0021 in the top 8,
//! 0 for 32 as in files from before) ‖ the flex gate's break points (phases u32 BE, then per phase a count
//! u32 BE and that many u64 BE) ‖ the proving key (halo2 `RawBytes`, which starts with the
//! verifying key). The name is the hash of the verifying key the chain pins, so another
//! setup or another circuit version never reads this file; a file whose checksum, capacity
//! or verifying key does not match is reported as [`ProofError::DamagedCache`], never
//! silently made again over.

use std::fs;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use alloy_primitives::B256;
use halo2_base::{
    gates::flex_gate::MultiPhaseThreadBreakPoints,
    halo2_proofs::{SerdeFormat, halo2curves::bn256::G1Affine, plonk::ProvingKey},
};
use sha3::{Digest, Keccak256};

use crate::circuit::{BlockCircuit, HashBackend, block_shape_for};
use crate::error::{ProofError, Result, io_err};
use crate::params::load_srs;
use crate::prover::{Halo2BlockProver, vk_hash};

const MAGIC: &[u8] = b"PARLEY-PK-1\n";

/// Where [`Halo2BlockProver::setup_cached`] found its keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// Read from the cache file.
    Cache,
    /// Made by keygen (and written to the cache when they hash to the expected key).
    Keygen,
}

/// The cache file of the keys whose verifying key hashes to `vk_hash`.
pub fn key_path(dir: &Path, vk_hash: B256) -> PathBuf {
    dir.join(format!("block-pk-{vk_hash:x}.bin"))
}

/// The cache file of the epoch verifier whose verifying key hashes to `vk_hash`
/// ([`crate::aggregation::EpochVerifier::setup_cached`]): `PARLEY-EVK-1\n` ‖ keccak256(body) ‖
/// body, where body = capacity (u64 BE) ‖ the aggregation config (degree u32, then
/// num_advice, num_lookup_advice, num_fixed, lookup_bits, u64 BE each) ‖ the verifying key
/// (halo2 `RawBytes`).
pub fn epoch_vk_path(dir: &Path, vk_hash: B256) -> PathBuf {
    dir.join(format!("epoch-vk-{vk_hash:x}.bin"))
}

/// The cache file of the compression verifier whose verifying key hashes to `vk_hash`
/// ([`crate::aggregation::CompressionVerifier::setup_cached`]): the layout of
/// [`epoch_vk_path`]'s file under the magic `PARLEY-L1VK-1\n`, with capacity 1.
pub fn l1_vk_path(dir: &Path, vk_hash: B256) -> PathBuf {
    dir.join(format!("l1-vk-{vk_hash:x}.bin"))
}

/// The cache file of the compression circuit's proving key whose verifying key hashes to
/// `vk_hash` ([`crate::aggregation::EpochCompressor::setup_cached`]): the layout of
/// [`epoch_pk_path`]'s flat file under the magic `PARLEY-L1PK-1\n`, with capacity 1.
pub fn l1_pk_path(dir: &Path, vk_hash: B256) -> PathBuf {
    dir.join(format!("l1-pk-{vk_hash:x}.bin"))
}

/// The cache file of the epoch aggregator's proving key whose verifying key hashes to
/// `vk_hash` ([`crate::aggregation::EpochAggregator::setup_cached`]), or of a whole
/// aggregation tree's keys whose root's key hashes to it
/// ([`crate::aggregation::tree::TreeAggregator::setup_cached`]; another magic); a prover's
/// worker reads it instead of minutes of keygen.
pub fn epoch_pk_path(dir: &Path, vk_hash: B256) -> PathBuf {
    dir.join(format!("epoch-pk-{vk_hash:x}.bin"))
}

/// Hashes what passes through to the inner writer or reader.
struct Hashing<T> {
    inner: T,
    hash: Keccak256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Writes `MAGIC ‖ keccak256(body) ‖ body` to `path` through a temporary file and a rename,
/// so a reader never sees half a file; `body` writes the body.
pub(crate) fn write_checked(
    path: &Path,
    magic: &[u8],
    body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(magic)?;
        f.write_all(&[0; 32])?;
        let mut w = Hashing {
            inner: BufWriter::new(f),
            hash: Keccak256::new(),
        };
        body(&mut w)?;
        let Hashing { inner, hash } = w;
        let mut f = inner.into_inner().map_err(|e| e.into_error())?;
        let digest = hash.finalize();
        f.seek(SeekFrom::Start(magic.len() as u64))?;
        f.write_all(&digest)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(&tmp)(e));
    }
    fs::rename(&tmp, path).map_err(io_err(path))
}

/// Opens a file written by [`write_checked`] after checking its magic and checksum in one
/// streaming pass (halo2 panics on some malformed keys, so nothing is decoded before that):
/// a reader positioned at the body.
pub(crate) fn open_checked(path: &Path, magic: &[u8]) -> Result<BufReader<fs::File>> {
    let damaged = |reason: &str| ProofError::DamagedCache {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    let open = || -> Result<_> { Ok(BufReader::new(fs::File::open(path).map_err(io_err(path))?)) };
    let mut r = open()?;
    let mut head = vec![0; magic.len() + 32];
    r.read_exact(&mut head)
        .map_err(|_| damaged("truncated header"))?;
    if &head[..magic.len()] != magic {
        return Err(damaged("bad magic"));
    }
    let mut h = Hashing {
        inner: r,
        hash: Keccak256::new(),
    };
    std::io::copy(&mut h, &mut std::io::sink()).map_err(io_err(path))?;
    if h.hash.finalize()[..] != head[magic.len()..] {
        return Err(damaged("checksum mismatch"));
    }
    let mut r = open()?;
    r.seek(SeekFrom::Start(head.len() as u64))
        .map_err(io_err(path))?;
    Ok(r)
}

/// Writes a flex gate's break points: phases u32 BE, then per phase a count u32 BE and that
/// many u64 BE.
pub(crate) fn write_break_points(
    w: &mut dyn Write,
    bp: &MultiPhaseThreadBreakPoints,
) -> std::io::Result<()> {
    w.write_all(&(bp.len() as u32).to_be_bytes())?;
    for phase in bp {
        w.write_all(&(phase.len() as u32).to_be_bytes())?;
        for b in phase {
            w.write_all(&(*b as u64).to_be_bytes())?;
        }
    }
    Ok(())
}

/// Reads [`write_break_points`]' output (at most 8 phases are read; the key that follows then
/// fails to decode on anything longer).
pub(crate) fn read_break_points(r: &mut impl Read) -> std::io::Result<MultiPhaseThreadBreakPoints> {
    let phases = read_u32(r)?;
    let mut break_points: MultiPhaseThreadBreakPoints = Vec::new();
    for _ in 0..phases.min(8) {
        let n = read_u32(r)?;
        let mut phase = Vec::with_capacity(n.min(1 << 16) as usize);
        for _ in 0..n {
            phase.push(read_u64(r)? as usize);
        }
        break_points.push(phase);
    }
    Ok(break_points)
}

fn write_keys(path: &Path, p: &Halo2BlockProver) -> Result<()> {
    write_checked(path, MAGIC, |w| {
        w.write_all(&circuit_word(p.shape().capacity, p.shape().index_bits).to_be_bytes())?;
        write_break_points(w, p.break_points())?;
        let mut w = w;
        p.pk().write(&mut w, SerdeFormat::RawBytes)
    })
}

/// A block-key file's circuit word: the capacity, and the index bits in the top byte (0 for
/// whole paths, so that files written before ADR 0021 read as what they are).
fn circuit_word(capacity: usize, index_bits: u32) -> u64 {
    let bits = if index_bits == crate::circuit::FULL_INDEX_BITS {
        0
    } else {
        u64::from(index_bits)
    };
    (capacity as u64 & ((1 << 56) - 1)) | bits << 56
}

pub(crate) fn read_u32(r: &mut impl Read) -> std::io::Result<u32> {
    let mut b = [0; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}

pub(crate) fn read_u64(r: &mut impl Read) -> std::io::Result<u64> {
    let mut b = [0; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_be_bytes(b))
}

fn read_keys(path: &Path, capacity: usize, index_bits: u32, vk: B256) -> Result<Halo2BlockProver> {
    let damaged = |reason: String| ProofError::DamagedCache {
        path: path.to_path_buf(),
        reason,
    };
    let mut r = open_checked(path, MAGIC)?;
    let undecodable = |e: std::io::Error| damaged(format!("undecodable: {e}"));
    let word = read_u64(&mut r).map_err(undecodable)?;
    if word != circuit_word(capacity, index_bits) {
        let file_bits = match word >> 56 {
            0 => crate::circuit::FULL_INDEX_BITS,
            b => b as u32,
        };
        return Err(damaged(format!(
            "holds keys for capacity {}, {file_bits} index bits, expected capacity {capacity}, {index_bits} index bits",
            word & ((1 << 56) - 1)
        )));
    }
    let break_points = read_break_points(&mut r).map_err(undecodable)?;
    let shape = block_shape_for(capacity, HashBackend::Chip, index_bits)?;
    // The checksum guarantees these are the bytes written from keys in memory.
    let pk = ProvingKey::<G1Affine>::read::<_, BlockCircuit>(
        &mut r,
        SerdeFormat::RawBytesUnchecked,
        shape.params.clone(),
    )
    .map_err(undecodable)?;
    let found = vk_hash(pk.get_vk());
    if found != vk {
        return Err(damaged(format!("holds the keys of vk {found}, not {vk}")));
    }
    let params = load_srs(shape.k())?;
    Ok(Halo2BlockProver::from_parts(
        shape,
        params,
        pk,
        break_points,
    ))
}

impl Halo2BlockProver {
    /// The keys for `capacity` whose verifying key hashes to `vk_hash` (the one genesis pins):
    /// read from the cache in `dir` when there, else made by keygen and, when they hash to
    /// `vk_hash`, written there for the next start. Keys made that hash otherwise (another
    /// setup or version) are returned uncached, for the caller to refuse.
    pub fn setup_cached(
        capacity: usize,
        index_bits: u32,
        vk_hash: B256,
        dir: &Path,
    ) -> Result<(Self, KeySource)> {
        let path = key_path(dir, vk_hash);
        if path.exists() {
            return Ok((
                read_keys(&path, capacity, index_bits, vk_hash)?,
                KeySource::Cache,
            ));
        }
        let p = Self::setup_for(capacity, index_bits)?;
        if crate::BlockProver::vk_hash(&p) == vk_hash {
            write_keys(&path, &p)?;
        }
        Ok((p, KeySource::Keygen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BlockProver as _;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("parley-keys-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn cached_keys_prove_like_fresh_ones_and_damage_is_refused() {
        const CAP: usize = 2;
        let dir = temp("roundtrip");
        let fresh = Halo2BlockProver::setup(CAP).expect("keygen");
        let vk = fresh.vk_hash();
        let (made, src) =
            Halo2BlockProver::setup_cached(CAP, crate::circuit::FULL_INDEX_BITS, vk, &dir)
                .expect("keygen");
        assert_eq!(src, KeySource::Keygen);
        let (read, src) =
            Halo2BlockProver::setup_cached(CAP, crate::circuit::FULL_INDEX_BITS, vk, &dir)
                .expect("read");
        assert_eq!(src, KeySource::Cache);
        assert_eq!(read.vk_hash(), vk);
        assert_eq!(read.break_points(), made.break_points());
        assert_eq!(
            read.pk().to_bytes(SerdeFormat::RawBytes),
            made.pk().to_bytes(SerdeFormat::RawBytes),
            "the same proving key, byte for byte"
        );
        // A proof from the read keys verifies under the fresh keys' verifier.
        let w = crate::circuit::BlockWitness::dummy(CAP);
        let proof = read.prove(&w).expect("proves with the cached keys");
        fresh.verify(&w.public, &proof).expect("verifies");

        let path = key_path(&dir, vk);
        let good = fs::read(&path).expect("read");
        let mut bad = good.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 1;
        fs::write(&path, &bad).expect("write");
        let e = Halo2BlockProver::setup_cached(CAP, crate::circuit::FULL_INDEX_BITS, vk, &dir)
            .expect_err("flipped bit");
        assert!(e.to_string().contains("checksum mismatch"), "{e}");
        fs::write(&path, &good[..good.len() / 3]).expect("truncate");
        assert!(matches!(
            Halo2BlockProver::setup_cached(CAP, crate::circuit::FULL_INDEX_BITS, vk, &dir),
            Err(ProofError::DamagedCache { .. })
        ));
        // Another circuit's file under this name (a capacity mismatch).
        fs::write(&path, &good).expect("restore");
        let e = read_keys(&path, CAP + 1, crate::circuit::FULL_INDEX_BITS, vk)
            .expect_err("another capacity");
        assert!(e.to_string().contains("capacity"), "{e}");
        // The same capacity with fewer index bits is another circuit (ADR 0021).
        // (the file records them: the pinned vk alone would not tell the keys apart from the
        // circuit the caller asked for)
        let e = read_keys(&path, CAP, crate::circuit::DEFAULT_INDEX_BITS, vk)
            .expect_err("other index bits");
        assert!(e.to_string().contains("32 index bits"), "{e}");
        // Keys that do not hash to the pin are not cached.
        let other = B256::repeat_byte(9);
        let (_, src) =
            Halo2BlockProver::setup_cached(CAP, crate::circuit::FULL_INDEX_BITS, other, &dir)
                .expect("keygen");
        assert_eq!(src, KeySource::Keygen);
        assert!(!key_path(&dir, other).exists());
        // The 24-bit circuit's keys are cached under their own vk and read back as such.
        let bits = crate::circuit::DEFAULT_INDEX_BITS;
        let narrow = crate::BlockVerifier::setup_for(CAP, bits)
            .expect("verifier")
            .vk_hash();
        let (made, src) = Halo2BlockProver::setup_cached(CAP, bits, narrow, &dir).expect("keygen");
        assert_eq!(src, KeySource::Keygen);
        let (read, src) = Halo2BlockProver::setup_cached(CAP, bits, narrow, &dir).expect("read");
        assert_eq!(src, KeySource::Cache);
        assert_eq!((made.vk_hash(), read.vk_hash()), (narrow, narrow));
        assert_eq!(read.shape().index_bits, bits);
        assert!(
            Halo2BlockProver::setup_cached(CAP, crate::circuit::FULL_INDEX_BITS, narrow, &dir)
                .is_err(),
            "the 24-bit file read as the whole-path circuit"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
