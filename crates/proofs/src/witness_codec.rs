//! A byte encoding of [`BlockWitness`], so a node that serves provers can hand a slot's
//! witness to a worker over gRPC (DESIGN §5). The header's prover address is the only part
//! that depends on who proves; a worker sets it with [`BlockWitness::for_prover`].
//!
//! `0x02 ‖ chain_id u64 ‖ slot u64 ‖ chunk_index u32 ‖ chunk_count u32 ‖ block_commitment 32
//! ‖ prover 20 ‖ pre_root ‖ post_root ‖ diff_hash ‖ count u32 ‖ entries`, each entry `flags u8
//! (bit 0 real, bit 1 account, bit 2 old present, bit 3 new present) ‖ address ‖ slot_hi ‖
//! slot_lo ‖ index u64 ‖ [old 5 ×] ‖ [new 5 ×] ‖ 32 path siblings`; field elements are 32-byte
//! big-endian and must be canonical.

use crate::{
    Fr,
    circuit::{BlockHeader, BlockPublicInputs, BlockWitness, EntryWitness},
    encoding::{fr_from_b256, fr_to_b256},
    error::{ProofError, Result},
    tree::PROOF_TREE_DEPTH,
};
use alloy_primitives::{Address, B256};

const VERSION: u8 = 2;

fn put_fr(v: &mut Vec<u8>, x: &Fr) {
    v.extend_from_slice(fr_to_b256(x).as_slice());
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(ProofError::Invalid("witness bytes end early".into()));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("take returns 4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn fr(&mut self) -> Result<Fr> {
        let b = B256::from_slice(self.take(32)?);
        fr_from_b256(&b)
            .ok_or_else(|| ProofError::Invalid("witness field element not canonical".into()))
    }
}

impl BlockWitness {
    /// The same witness bound to `prover` (the only prover-specific part).
    pub fn for_prover(mut self, prover: Address) -> Self {
        self.public.header.prover_address = prover;
        self
    }

    /// The byte encoding (module docs).
    pub fn encode(&self) -> Vec<u8> {
        let per_entry = 1 + 3 * 32 + 8 + 10 * 32 + PROOF_TREE_DEPTH * 32;
        let mut v = Vec::with_capacity(1 + 16 + 52 + 96 + 4 + per_entry * self.entries.len());
        v.push(VERSION);
        let h = &self.public.header;
        v.extend_from_slice(&h.chain_id.to_be_bytes());
        v.extend_from_slice(&h.slot.to_be_bytes());
        v.extend_from_slice(&h.chunk_index.to_be_bytes());
        v.extend_from_slice(&h.chunk_count.to_be_bytes());
        v.extend_from_slice(h.block_commitment.as_slice());
        v.extend_from_slice(h.prover_address.as_slice());
        put_fr(&mut v, &self.public.pre_root);
        put_fr(&mut v, &self.public.post_root);
        put_fr(&mut v, &self.public.diff_hash);
        let n = u32::try_from(self.entries.len()).expect("a capacity fits u32");
        v.extend_from_slice(&n.to_be_bytes());
        for e in &self.entries {
            let flags = u8::from(e.is_real)
                | u8::from(e.is_account) << 1
                | u8::from(e.old.is_some()) << 2
                | u8::from(e.new.is_some()) << 3;
            v.push(flags);
            put_fr(&mut v, &e.address);
            put_fr(&mut v, &e.slot[0]);
            put_fr(&mut v, &e.slot[1]);
            v.extend_from_slice(&e.index.to_be_bytes());
            for x in e.old.iter().chain(e.new.iter()).flatten() {
                put_fr(&mut v, x);
            }
            for x in &e.path {
                put_fr(&mut v, x);
            }
        }
        v
    }

    /// Decodes [`Self::encode`]'s output; refuses another version, short or trailing bytes,
    /// unknown flags and non-canonical field elements.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader(bytes);
        if r.take(1)?[0] != VERSION {
            return Err(ProofError::Invalid("unknown witness version".into()));
        }
        let header = BlockHeader {
            chain_id: r.u64()?,
            slot: r.u64()?,
            chunk_index: r.u32()?,
            chunk_count: r.u32()?,
            block_commitment: B256::from_slice(r.take(32)?),
            prover_address: Address::from_slice(r.take(20)?),
        };
        let public = BlockPublicInputs {
            header,
            pre_root: r.fr()?,
            post_root: r.fr()?,
            diff_hash: r.fr()?,
        };
        let n = u32::from_be_bytes(r.take(4)?.try_into().expect("4 bytes")) as usize;
        // Each entry is at least 1 + 3·32 + 8 + 32·32 bytes: a count the bytes cannot hold is
        // refused before allocating.
        if n > bytes.len() / (1 + 3 * 32 + 8 + PROOF_TREE_DEPTH * 32) {
            return Err(ProofError::Invalid(
                "witness entry count exceeds its bytes".into(),
            ));
        }
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let flags = r.take(1)?[0];
            if flags >> 4 != 0 {
                return Err(ProofError::Invalid("unknown witness entry flags".into()));
            }
            let address = r.fr()?;
            let slot = [r.fr()?, r.fr()?];
            let index = r.u64()?;
            let mut five = |present: bool| -> Result<Option<[Fr; 5]>> {
                if !present {
                    return Ok(None);
                }
                Ok(Some([r.fr()?, r.fr()?, r.fr()?, r.fr()?, r.fr()?]))
            };
            let old = five(flags & 4 != 0)?;
            let new = five(flags & 8 != 0)?;
            let mut path = [Fr::zero(); PROOF_TREE_DEPTH];
            for x in &mut path {
                *x = r.fr()?;
            }
            entries.push(EntryWitness {
                is_real: flags & 1 != 0,
                is_account: flags & 2 != 0,
                address,
                slot,
                index,
                old,
                new,
                path,
            });
        }
        if !r.0.is_empty() {
            return Err(ProofError::Invalid(
                "trailing bytes after the witness".into(),
            ));
        }
        Ok(Self { public, entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BlockWitness {
        let mut w = BlockWitness::dummy(3).for_prover(Address::repeat_byte(7));
        w.public.header.slot = 42;
        w.public.header.chunk_index = 2;
        w.public.header.chunk_count = 3;
        w.public.post_root = Fr::from(99u64);
        let e = &mut w.entries[1];
        e.is_real = true;
        e.is_account = false;
        e.address = Fr::from(5u64);
        e.slot = [Fr::from(1u64), Fr::from(2u64)];
        e.index = 1 << 31;
        e.old = Some([Fr::from(3u64); 5]);
        e.path[7] = Fr::from(8u64);
        w.entries[2].new = Some([Fr::from(4u64); 5]);
        w
    }

    #[test]
    fn witnesses_round_trip_and_refuse_damage() {
        let w = sample();
        let bytes = w.encode();
        assert_eq!(BlockWitness::decode(&bytes).expect("decodes"), w);
        for cut in [0, 1, 100, bytes.len() - 1] {
            assert!(BlockWitness::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(BlockWitness::decode(&longer).is_err());
        // Version 1 (before chunks) and an unknown version 3 are refused.
        for v in [1, 3] {
            let mut version = bytes.clone();
            version[0] = v;
            assert!(BlockWitness::decode(&version).is_err(), "version {v}");
        }
        // The chunk index and count are read back where they were written.
        assert_eq!(bytes[17..25], [0, 0, 0, 2, 0, 0, 0, 3]);
        // A field element at the modulus is not canonical.
        let mut big = bytes.clone();
        let at = 1 + 8 + 8 + 4 + 4 + 32 + 20;
        big[at..at + 32].copy_from_slice(&[0xff; 32]);
        assert!(BlockWitness::decode(&big).is_err());
        // An entry count the bytes cannot hold is refused before allocating.
        let mut count = bytes;
        let at = 1 + 8 + 8 + 4 + 4 + 32 + 20 + 96;
        count[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(BlockWitness::decode(&count).is_err());
    }
}
