//! L2 blocks and the protocol-message envelope carried in CometBFT transactions.
//!
//! A CometBFT transaction is either a raw EIP-2718 user transaction (only while it waits in the
//! mempool: proposals never carry them raw) or a protocol message: `b"PRLY" ‖ version ‖ kind ‖
//! body`. Kind 1 is [`Message::ProposerBlock`] (RLP), the L2 block the CometBFT proposer
//! builds from its mempool (DESIGN §3.5); kind 2 is a signed protocol message (protobuf,
//! [`crate::chain::msg`]), which users, sequencers, provers and validators send; kind 3 is
//! [`Message::Seed`], the validators' seed openings a proposer carries from its last commit
//! ([`crate::chain::seed`]); kind 4 is [`Message::Attest`] (an epoch's attestation for L1) and
//! kind 5 [`Message::L1Queue`] (L1 queue entries with their votes), both from its last
//! commit's vote extensions ([`crate::chain::bridge`], [`crate::chain::l1queue`]).

use alloy_primitives::{Address, B256, Bytes, keccak256};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};

/// Magic prefix of every protocol message.
pub const MAGIC: &[u8; 4] = b"PRLY";
/// Envelope version.
pub const VERSION: u8 = 1;
const KIND_PROPOSER_BLOCK: u8 = 1;
const KIND_SEED: u8 = 3;
const KIND_ATTEST: u8 = 4;
const KIND_L1_QUEUE: u8 = 5;

/// The header of an L2 block: everything the block commitment covers besides the txs.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct L2Header {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Block number; equals the CometBFT height that executes it.
    pub number: u64,
    /// Hash of the previous L2 block (zero for the first).
    pub parent_hash: B256,
    /// Seconds since the epoch, from the CometBFT block time.
    pub timestamp: u64,
    /// Receives the priority fees (the block builder).
    pub builder: Address,
    /// Base fee per gas of this block (from chain meta).
    pub base_fee: u64,
    /// Gas limit (from the genesis parameters).
    pub gas_limit: u64,
    /// `keccak256` of the concatenated transaction hashes, in order.
    pub tx_root: B256,
}

/// An L2 block: header plus ordered signed transactions (EIP-2718 bytes).
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct L2Block {
    /// The header.
    pub header: L2Header,
    /// Signed transactions, in execution order.
    pub txs: Vec<Bytes>,
}

impl L2Header {
    /// The block hash, which is also its sealed-bid commitment: `keccak256(rlp(header))`.
    pub fn hash(&self) -> B256 {
        let mut buf = Vec::with_capacity(256);
        self.encode(&mut buf);
        keccak256(buf)
    }
}

/// `keccak256(h_1 ‖ … ‖ h_n)` of the transaction hashes.
pub fn tx_root(tx_hashes: impl IntoIterator<Item = B256>) -> B256 {
    let mut buf = Vec::new();
    for h in tx_hashes {
        buf.extend_from_slice(h.as_slice());
    }
    keccak256(buf)
}

/// A protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// An L2 block built by the CometBFT proposer from its mempool.
    ProposerBlock(L2Block),
    /// The seed openings of the reveal height before (ADR 0009), first in the proposal of
    /// an inclusion height; put there by the proposer from its last commit.
    Seed(crate::chain::seed::SeedReveals),
    /// The validators' signatures of the pending epoch digest (DESIGN §6), after any seed
    /// reveals; put there by the proposer from its last commit's vote extensions.
    Attest(crate::chain::bridge::Attest),
    /// L1 queue entries and the validators' votes that let them in (DESIGN §6), after any
    /// attestation; put there by the proposer from its last commit's vote extensions.
    L1Queue(crate::chain::l1queue::QueueBatch),
}

/// Why bytes are not a protocol message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MessageError {
    /// No `PRLY` prefix.
    #[error("not a protocol message")]
    NotProtocol,
    /// Unsupported envelope version.
    #[error("unsupported protocol message version {0}")]
    Version(u8),
    /// Unknown message kind.
    #[error("unknown protocol message kind {0}")]
    Kind(u8),
    /// The body does not decode, or has trailing bytes.
    #[error("malformed protocol message body: {0}")]
    Body(String),
}

impl Message {
    /// Whether `tx` claims to be a protocol message (has the magic prefix).
    pub fn is_protocol(tx: &[u8]) -> bool {
        tx.starts_with(MAGIC)
    }

    /// Envelope bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        match self {
            Self::ProposerBlock(b) => {
                out.push(KIND_PROPOSER_BLOCK);
                b.encode(&mut out);
            }
            Self::Seed(r) => {
                out.push(KIND_SEED);
                r.encode(&mut out);
            }
            Self::Attest(a) => {
                out.push(KIND_ATTEST);
                a.encode(&mut out);
            }
            Self::L1Queue(b) => {
                out.push(KIND_L1_QUEUE);
                b.encode(&mut out);
            }
        }
        out
    }

    /// Decodes an envelope; trailing bytes are an error.
    pub fn decode(tx: &[u8]) -> Result<Self, MessageError> {
        let rest = tx
            .strip_prefix(MAGIC.as_slice())
            .ok_or(MessageError::NotProtocol)?;
        let (&version, rest) = rest
            .split_first()
            .ok_or(MessageError::Body("empty".into()))?;
        if version != VERSION {
            return Err(MessageError::Version(version));
        }
        let (&kind, mut body) = rest
            .split_first()
            .ok_or(MessageError::Body("no kind".into()))?;
        let msg = match kind {
            KIND_PROPOSER_BLOCK => Self::ProposerBlock(
                L2Block::decode(&mut body).map_err(|e| MessageError::Body(e.to_string()))?,
            ),
            KIND_SEED => Self::Seed(
                crate::chain::seed::SeedReveals::decode(&mut body).map_err(MessageError::Body)?,
            ),
            KIND_ATTEST => Self::Attest(
                crate::chain::bridge::Attest::decode(&mut body).map_err(MessageError::Body)?,
            ),
            KIND_L1_QUEUE => Self::L1Queue(
                crate::chain::l1queue::QueueBatch::decode(&mut body).map_err(MessageError::Body)?,
            ),
            k => return Err(MessageError::Kind(k)),
        };
        if !body.is_empty() {
            return Err(MessageError::Body(format!("{} trailing bytes", body.len())));
        }
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn envelope_roundtrip_and_garbage() {
        let block = L2Block {
            header: L2Header {
                chain_id: 1,
                number: 2,
                parent_hash: B256::repeat_byte(3),
                timestamp: 4,
                builder: Address::repeat_byte(5),
                base_fee: 6,
                gas_limit: 7,
                tx_root: tx_root([B256::repeat_byte(8)]),
            },
            txs: vec![Bytes::from_static(&[1, 2, 3])],
        };
        let msg = Message::ProposerBlock(block.clone());
        let bytes = msg.encode();
        assert!(Message::is_protocol(&bytes));
        assert_eq!(Message::decode(&bytes), Ok(msg));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            Message::decode(&trailing),
            Err(MessageError::Body(_))
        ));
        assert_eq!(
            Message::decode(b"PRLY\x02\x01"),
            Err(MessageError::Version(2))
        );
        assert_eq!(Message::decode(b"PRLY\x01\x09"), Err(MessageError::Kind(9)));
        assert_eq!(
            Message::decode(&[0xde, 0xad]),
            Err(MessageError::NotProtocol)
        );
        assert!(matches!(
            Message::decode(&bytes[..bytes.len() - 1]),
            Err(MessageError::Body(_))
        ));
        // The hash commits to every header field (and more thoroughly: the property below).
        let mut h2 = block.header.clone();
        h2.timestamp += 1;
        assert_ne!(h2.hash(), block.header.hash());
    }

    fn header() -> impl Strategy<Value = L2Header> {
        (
            (any::<u64>(), any::<u64>(), any::<[u8; 32]>(), any::<u64>()),
            (
                any::<[u8; 20]>(),
                any::<u64>(),
                any::<u64>(),
                any::<[u8; 32]>(),
            ),
        )
            .prop_map(
                |((chain_id, number, parent, timestamp), (builder, base_fee, gas_limit, root))| {
                    L2Header {
                        chain_id,
                        number,
                        parent_hash: B256::from(parent),
                        timestamp,
                        builder: Address::from(builder),
                        base_fee,
                        gas_limit,
                        tx_root: B256::from(root),
                    }
                },
            )
    }

    /// Sets field `i` of `h` to `from`'s value of that field (`None`: they already agree).
    /// The destructuring has no `..`: a new header field does not compile until it is added
    /// here, so the property below always covers every field.
    fn copy_field(h: &L2Header, from: &L2Header, i: usize) -> Option<L2Header> {
        let L2Header {
            chain_id,
            number,
            parent_hash,
            timestamp,
            builder,
            base_fee,
            gas_limit,
            tx_root,
        } = from.clone();
        let mut out = h.clone();
        match i {
            0 => out.chain_id = chain_id,
            1 => out.number = number,
            2 => out.parent_hash = parent_hash,
            3 => out.timestamp = timestamp,
            4 => out.builder = builder,
            5 => out.base_fee = base_fee,
            6 => out.gas_limit = gas_limit,
            7 => out.tx_root = tx_root,
            _ => unreachable!("8 header fields"),
        }
        (out != *h).then_some(out)
    }

    /// A one-bit change of field `i`: the smallest change, where an encoding that drops or
    /// truncates a field would show first.
    fn flip_field(h: &L2Header, i: usize, bit: u32) -> L2Header {
        let mut out = h.clone();
        let flip_b256 = |b: &mut B256| b[(bit as usize / 8) % 32] ^= 1 << (bit % 8);
        match i {
            0 => out.chain_id ^= 1 << (bit % 64),
            1 => out.number ^= 1 << (bit % 64),
            2 => flip_b256(&mut out.parent_hash),
            3 => out.timestamp ^= 1 << (bit % 64),
            4 => out.builder[(bit as usize / 8) % 20] ^= 1 << (bit % 8),
            5 => out.base_fee ^= 1 << (bit % 64),
            6 => out.gas_limit ^= 1 << (bit % 64),
            7 => flip_b256(&mut out.tx_root),
            _ => unreachable!("8 header fields"),
        }
        out
    }

    proptest! {
        /// Every header field changes the block hash (which is also the sealed-bid commitment):
        /// replaced by another header's value of it, or with one bit flipped. The hash is also
        /// what the header decodes back to, so it depends on the fields alone.
        #[test]
        fn every_header_field_changes_the_hash(a in header(), b in header(), bit in 0u32..256) {
            let h = a.hash();
            prop_assert_eq!(a.clone().hash(), h);
            let mut rlp = Vec::new();
            a.encode(&mut rlp);
            prop_assert_eq!(L2Header::decode(&mut rlp.as_slice()).expect("decodes"), a.clone());
            for i in 0..8 {
                if let Some(c) = copy_field(&a, &b, i) {
                    prop_assert_ne!(c.hash(), h, "field {} replaced: {:?}", i, c);
                }
                let f = flip_field(&a, i, bit);
                prop_assert_ne!(f.hash(), h, "field {} with bit {} flipped: {:?}", i, bit, f);
            }
        }
    }
}
