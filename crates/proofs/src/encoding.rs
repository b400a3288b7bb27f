//! Field encodings of keys and leaves (ADR 0001 "The proof tree", ADR 0003).
//!
//! Every element is < 2^254: addresses are 160-bit integers, 256-bit words are split into
//! big-endian 128-bit halves `(hi, lo)`, u64 counters are integers.

use crate::types::{DiffEntry, LeafValue, StateKey};
use alloy_primitives::{Address, B256, U256};
use halo2_base::halo2_proofs::halo2curves::{bn256::Fr, ff::PrimeField};

/// Leaf kind tag of an account (first field of its leaf encoding).
pub const KIND_ACCOUNT: u64 = 1;
/// Leaf kind tag of a storage slot.
pub const KIND_STORAGE: u64 = 2;

/// Field element of a big-endian byte string of at most 31 bytes.
pub fn fr_from_be_bytes(bytes: &[u8]) -> Fr {
    assert!(
        bytes.len() <= 31,
        "at most 31 bytes fit below the BN254 modulus"
    );
    let mut le = [0u8; 32];
    for (i, b) in bytes.iter().rev().enumerate() {
        le[i] = *b;
    }
    Fr::from_repr(le).expect("value below 2^248 is canonical")
}

/// A field element as a 32-byte big-endian integer (how consensus state stores proof roots).
pub fn fr_to_b256(x: &Fr) -> B256 {
    let mut be = x.to_repr();
    be.reverse();
    B256::from(be)
}

/// The field element a 32-byte big-endian integer stands for; `None` unless it is below the
/// BN254 scalar modulus (one element, one encoding).
pub fn fr_from_b256(b: &B256) -> Option<Fr> {
    let mut le = b.0;
    le.reverse();
    Option::from(Fr::from_repr(le))
}

/// An address as a 160-bit integer.
pub fn fr_address(a: &Address) -> Fr {
    fr_from_be_bytes(a.as_slice())
}

/// A 256-bit word as `(hi, lo)` 128-bit halves.
pub fn fr_u256(v: &U256) -> (Fr, Fr) {
    let b = v.to_be_bytes::<32>();
    (fr_from_be_bytes(&b[..16]), fr_from_be_bytes(&b[16..]))
}

/// A 32-byte hash as `(hi, lo)` 128-bit halves.
pub fn fr_b256(v: &B256) -> (Fr, Fr) {
    (fr_from_be_bytes(&v[..16]), fr_from_be_bytes(&v[16..]))
}

/// Key fields `[kind, address, slot_hi, slot_lo]` (an account has slot `(0, 0)`); `None`
/// for the chain-meta key, which is not in the proof tree.
pub fn key_fields(key: &StateKey) -> Option<[Fr; 4]> {
    match key {
        StateKey::Account(a) => Some([
            Fr::from(KIND_ACCOUNT),
            fr_address(a),
            Fr::zero(),
            Fr::zero(),
        ]),
        StateKey::Storage(a, s) => {
            let (hi, lo) = fr_u256(s);
            Some([Fr::from(KIND_STORAGE), fr_address(a), hi, lo])
        }
        // Chain meta and the protocol ledger are not EVM state: not in the proof tree.
        _ => None,
    }
}

/// Value fields as the circuit witnesses them, 5 wide:
/// account `[nonce, balance_hi, balance_lo, code_hash_hi, code_hash_lo]`,
/// storage `[value_hi, value_lo, 0, 0, 0]`.
pub fn value_fields(v: &LeafValue) -> [Fr; 5] {
    match v {
        LeafValue::Account(a) => {
            let (bh, bl) = fr_u256(&a.balance);
            let (ch, cl) = fr_b256(&a.code_hash);
            [Fr::from(a.nonce), bh, bl, ch, cl]
        }
        LeafValue::Storage(value) => {
            let (h, l) = fr_u256(value);
            [h, l, Fr::zero(), Fr::zero(), Fr::zero()]
        }
    }
}

/// The leaf's field list of ADR 0001:
/// account `[1, address, nonce, balance_hi, balance_lo, code_hash_hi, code_hash_lo]`,
/// storage `[2, address, slot_hi, slot_lo, value_hi, value_lo]`.
///
/// Returns `None` when key and value kinds differ or the key is not an EVM key.
pub fn leaf_fields(key: &StateKey, v: &LeafValue) -> Option<Vec<Fr>> {
    let k = key_fields(key)?;
    let vf = value_fields(v);
    match (key, v) {
        (StateKey::Account(_), LeafValue::Account(_)) => {
            Some(vec![k[0], k[1], vf[0], vf[1], vf[2], vf[3], vf[4]])
        }
        (StateKey::Storage(..), LeafValue::Storage(_)) => {
            Some(vec![k[0], k[1], k[2], k[3], vf[0], vf[1]])
        }
        _ => None,
    }
}

/// `leaf_hash = Poseidon(fields)`; an absent entry hashes to 0. `None` on kind mismatch or
/// a non-EVM key.
pub fn leaf_hash(key: &StateKey, v: Option<&LeafValue>) -> Option<Fr> {
    key_fields(key)?;
    match v {
        None => Some(Fr::zero()),
        Some(v) => leaf_fields(key, v).map(|f| crate::poseidon::hash(&f)),
    }
}

/// Old and new leaf hashes of a diff entry. `None` on kind mismatch.
pub fn entry_leaf_hashes(e: &DiffEntry) -> Option<(Fr, Fr)> {
    Some((
        leaf_hash(&e.key, e.old.as_ref())?,
        leaf_hash(&e.key, e.new.as_ref())?,
    ))
}

/// Hex (0x-prefixed, big-endian, 32 bytes) of a field element, as test vectors print it.
pub fn fr_to_hex(x: &Fr) -> String {
    let mut b = x.to_repr();
    b.reverse();
    format!("0x{}", hex::encode(b))
}

/// Big-endian 32 bytes of a field element.
pub fn fr_to_be_bytes(x: &Fr) -> [u8; 32] {
    let mut b = x.to_repr();
    b.reverse();
    b
}

/// Parse a field element from 32 big-endian bytes; `None` if not canonical (≥ modulus).
pub fn fr_from_be32(b: &[u8; 32]) -> Option<Fr> {
    let mut le = *b;
    le.reverse();
    Option::from(Fr::from_repr(le))
}
