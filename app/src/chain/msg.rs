//! Signed protocol messages (DESIGN §3 opening): their canonical wire form, the
//! domain-separated digest their sender signs, and the stateless checks every node runs
//! (CheckTx, ProcessProposal).
//!
//! Wire form of one CometBFT transaction: `b"PRLY" ‖ 0x01 ‖ 0x02 ‖ protobuf SignedMessage`
//! (`proto/parley/protocol/v1/messages.proto`). The envelope prefix tells protocol messages
//! from EVM transactions (an EIP-2718 transaction never starts with `PRLY`: alloy refuses type
//! byte `0x50`, and legacy RLP starts at `0xc0`).
//!
//! Canonical: the protobuf bytes must re-encode to themselves (no unknown fields, no default
//! values written out, minimal varints, fields in order), amounts are exactly 32 bytes, keys
//! exactly their width, and the signature is 65 bytes with `v ∈ {0, 1}` and a low `s`. So one
//! message has exactly one encoding and its hash identifies it.
//!
//! Digest: `keccak256("parley/message/v1" ‖ chain_id u64 ‖ kind u32 ‖ nonce u64 ‖
//! keccak256(message bytes))`. The chain id and kind are in the digest, not only in the body,
//! so a signature cannot be replayed on another chain or read as another kind; the protocol
//! nonce (one per sender, [`parley_types::LedgerAccount::nonce`]) stops replays on the same
//! chain, including of messages that carry no slot.

use alloy_primitives::{Address, B256, Bytes, Signature, U256, keccak256};
use parley_proto::protocol::v1 as pb;
use parley_types::Role;
use prost::Message as _;

use crate::chain::block::{MAGIC, VERSION};

/// The envelope kind byte of a signed protocol message (after `PRLY ‖ version`).
pub const KIND_SIGNED: u8 = 2;

/// Domain tag of the signing digest.
pub const DOMAIN: &[u8] = b"parley/message/v1";

/// Largest encoded signed message accepted (the envelope included), except the two kinds that
/// carry transactions.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// Largest `Reveal` or `ForceInclude` accepted: CometBFT's default mempool limit for one
/// transaction (`mempool.max_tx_bytes`, 1 MiB).
pub const MAX_LARGE_MESSAGE_BYTES: usize = 1024 * 1024;

/// Largest `Proof` accepted: a block proof is a few KiB (its size depends on the circuit's
/// columns, not on the block), so this leaves room and still bounds what every validator
/// reads.
pub const MAX_PROOF_MESSAGE_BYTES: usize = 64 * 1024;

/// Half the secp256k1 group order: a signature's `s` must not exceed it (EIP-2).
const SECP256K1N_HALF: U256 = alloy_primitives::uint!(
    0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0_U256
);

/// What a message asks the chain to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// EVM balance → ledger balance.
    Fund(U256),
    /// Ledger balance → EVM balance.
    Withdraw(U256),
    /// Register as a sequencer or add to the bond.
    BondSequencer(U256),
    /// Register as a prover or add to the stake.
    StakeProver(U256),
    /// Register as a validator or add to the bond.
    BondValidator {
        /// Wei from the ledger balance.
        amount: U256,
        /// CometBFT ed25519 public key of the node.
        consensus_key: [u8; 32],
        /// Address of the secp256k1 bridge key.
        bridge_key: Address,
    },
    /// Leave a role.
    Unbond(Role),
    /// A prover's liveness signal.
    Heartbeat,
    /// A sealed bid for a slot (DESIGN §3.2).
    Bid {
        /// The slot.
        slot: u64,
        /// The commitment to the block it will reveal ([`crate::chain::auction::commitment`]).
        commitment: B256,
        /// Wei to escrow.
        amount: U256,
    },
    /// The assigned prover signs the slot's highest bid (DESIGN §3.3).
    Select {
        /// The slot.
        slot: u64,
        /// The winning bid's sequencer.
        sequencer: Address,
        /// Its commitment.
        commitment: B256,
        /// Its amount.
        amount: U256,
    },
    /// The winner's block (DESIGN §3.4).
    Reveal {
        /// The slot.
        slot: u64,
        /// The block's gas limit (committed).
        gas_limit: u64,
        /// Signed EIP-2718 transactions in execution order (committed by hash).
        txs: Vec<Bytes>,
    },
    /// A transaction the next executed L2 block must start with (DESIGN §3.6).
    ForceInclude(Bytes),
    /// A block proof of one chunk of a slot (DESIGN §3.8, §3.12).
    Proof {
        /// The slot.
        slot: u64,
        /// The chunk (0 for a slot of one chunk).
        chunk: u32,
        /// Proof-tree root before the slot's diff (a canonical BN254 field element).
        pre_root: B256,
        /// Root after it.
        post_root: B256,
        /// halo2 proof bytes.
        proof: Bytes,
    },
    /// A fallback prover's commitment to a proof of a slot (DESIGN §3.9), in the commit phase.
    CommitProof {
        /// The slot.
        slot: u64,
        /// The chunk.
        chunk: u32,
        /// `keccak256(proof ‖ sender address)`.
        hash: B256,
    },
    /// The proof a fallback prover committed to, in the reveal phase; the same content as
    /// [`Action::Proof`].
    RevealProof {
        /// The slot.
        slot: u64,
        /// The chunk.
        chunk: u32,
        /// Proof-tree root before the slot's diff (a canonical BN254 field element).
        pre_root: B256,
        /// Root after it.
        post_root: B256,
        /// halo2 proof bytes.
        proof: Bytes,
    },
    /// An epoch's aggregate (DESIGN §3.14): accumulator limbs, then the layer-1 proof.
    Aggregate {
        /// The epoch.
        epoch: u64,
        /// `parley_proofs::aggregation::encode_epoch_snark` bytes.
        proof: Bytes,
    },
    /// The proof L1 verifies for an aggregated epoch (the compression layer): accumulator
    /// limbs, then the keccak-transcript proof.
    EpochProof {
        /// The epoch.
        epoch: u64,
        /// `parley_proofs::aggregation::EpochProof::to_bytes` bytes.
        proof: Bytes,
    },
}

/// The kind of a message: the protobuf field number of its `kind`, which the digest carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
pub enum Kind {
    /// [`Action::Fund`].
    Fund = 10,
    /// [`Action::Withdraw`].
    Withdraw = 11,
    /// [`Action::BondSequencer`].
    BondSequencer = 12,
    /// [`Action::StakeProver`].
    StakeProver = 13,
    /// [`Action::BondValidator`].
    BondValidator = 14,
    /// [`Action::Unbond`].
    Unbond = 15,
    /// [`Action::Heartbeat`].
    Heartbeat = 16,
    /// [`Action::Bid`].
    Bid = 20,
    /// [`Action::Select`].
    Select = 21,
    /// [`Action::Reveal`].
    Reveal = 22,
    /// [`Action::ForceInclude`].
    ForceInclude = 23,
    /// [`Action::Proof`].
    Proof = 24,
    /// [`Action::CommitProof`].
    CommitProof = 25,
    /// [`Action::RevealProof`].
    RevealProof = 26,
    /// [`Action::Aggregate`].
    Aggregate = 28,
    /// [`Action::EpochProof`].
    EpochProof = 29,
}

impl Kind {
    /// Every kind, in number order.
    pub const ALL: [Kind; 16] = [
        Kind::Fund,
        Kind::Withdraw,
        Kind::BondSequencer,
        Kind::StakeProver,
        Kind::BondValidator,
        Kind::Unbond,
        Kind::Heartbeat,
        Kind::Bid,
        Kind::Select,
        Kind::Reveal,
        Kind::ForceInclude,
        Kind::Proof,
        Kind::CommitProof,
        Kind::RevealProof,
        Kind::Aggregate,
        Kind::EpochProof,
    ];

    /// Lower-case name (metrics, logs, RPC).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Fund => "fund",
            Kind::Withdraw => "withdraw",
            Kind::BondSequencer => "bond_sequencer",
            Kind::StakeProver => "stake_prover",
            Kind::BondValidator => "bond_validator",
            Kind::Unbond => "unbond",
            Kind::Heartbeat => "heartbeat",
            Kind::Bid => "bid",
            Kind::Select => "select",
            Kind::Reveal => "reveal",
            Kind::ForceInclude => "force_include",
            Kind::Proof => "proof",
            Kind::CommitProof => "commit_proof",
            Kind::RevealProof => "reveal_proof",
            Kind::Aggregate => "aggregate",
            Kind::EpochProof => "epoch_proof",
        }
    }
}

impl Action {
    /// This action's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Action::Fund(_) => Kind::Fund,
            Action::Withdraw(_) => Kind::Withdraw,
            Action::BondSequencer(_) => Kind::BondSequencer,
            Action::StakeProver(_) => Kind::StakeProver,
            Action::BondValidator { .. } => Kind::BondValidator,
            Action::Unbond(_) => Kind::Unbond,
            Action::Heartbeat => Kind::Heartbeat,
            Action::Bid { .. } => Kind::Bid,
            Action::Select { .. } => Kind::Select,
            Action::Reveal { .. } => Kind::Reveal,
            Action::ForceInclude(_) => Kind::ForceInclude,
            Action::Proof { .. } => Kind::Proof,
            Action::CommitProof { .. } => Kind::CommitProof,
            Action::RevealProof { .. } => Kind::RevealProof,
            Action::Aggregate { .. } => Kind::Aggregate,
            Action::EpochProof { .. } => Kind::EpochProof,
        }
    }

    /// The slot a message is for, if it names one.
    pub fn slot(&self) -> Option<u64> {
        match self {
            Action::Bid { slot, .. }
            | Action::Select { slot, .. }
            | Action::Reveal { slot, .. }
            | Action::Proof { slot, .. }
            | Action::CommitProof { slot, .. }
            | Action::RevealProof { slot, .. } => Some(*slot),
            _ => None,
        }
    }

    fn to_proto(&self) -> pb::message::Kind {
        use pb::message::Kind as K;
        let amount = |a: &U256| a.to_be_bytes::<32>().to_vec();
        match self {
            Action::Fund(a) => K::Fund(pb::Fund { amount: amount(a) }),
            Action::Withdraw(a) => K::Withdraw(pb::Withdraw { amount: amount(a) }),
            Action::BondSequencer(a) => K::BondSequencer(pb::BondSequencer { amount: amount(a) }),
            Action::StakeProver(a) => K::StakeProver(pb::StakeProver { amount: amount(a) }),
            Action::BondValidator {
                amount: a,
                consensus_key,
                bridge_key,
            } => K::BondValidator(pb::BondValidator {
                amount: amount(a),
                consensus_key: consensus_key.to_vec(),
                bridge_key: bridge_key.to_vec(),
            }),
            Action::Unbond(role) => K::Unbond(pb::Unbond {
                role: match role {
                    Role::Sequencer => pb::Role::Sequencer,
                    Role::Prover => pb::Role::Prover,
                    Role::Validator => pb::Role::Validator,
                } as i32,
            }),
            Action::Heartbeat => K::Heartbeat(pb::Heartbeat {}),
            Action::Bid {
                slot,
                commitment,
                amount: a,
            } => K::Bid(pb::Bid {
                slot: *slot,
                block_commitment: commitment.to_vec(),
                amount: amount(a),
            }),
            Action::Select {
                slot,
                sequencer,
                commitment,
                amount: a,
            } => K::Select(pb::Select {
                slot: *slot,
                sequencer: sequencer.to_vec(),
                block_commitment: commitment.to_vec(),
                amount: amount(a),
            }),
            Action::Reveal {
                slot,
                gas_limit,
                txs,
            } => K::Reveal(pb::Reveal {
                slot: *slot,
                gas_limit: *gas_limit,
                txs: txs.iter().map(|t| t.to_vec()).collect(),
            }),
            Action::ForceInclude(tx) => K::ForceInclude(pb::ForceInclude { tx: tx.to_vec() }),
            Action::Proof {
                slot,
                chunk,
                pre_root,
                post_root,
                proof,
            } => K::Proof(pb::Proof {
                slot: *slot,
                pre_root: pre_root.to_vec(),
                post_root: post_root.to_vec(),
                proof: proof.to_vec(),
                chunk: *chunk,
            }),
            Action::CommitProof { slot, chunk, hash } => K::CommitProof(pb::CommitProof {
                slot: *slot,
                hash: hash.to_vec(),
                chunk: *chunk,
            }),
            Action::RevealProof {
                slot,
                chunk,
                pre_root,
                post_root,
                proof,
            } => K::RevealProof(pb::Proof {
                slot: *slot,
                pre_root: pre_root.to_vec(),
                post_root: post_root.to_vec(),
                proof: proof.to_vec(),
                chunk: *chunk,
            }),
            Action::Aggregate { epoch, proof } => K::Aggregate(pb::Aggregate {
                epoch: *epoch,
                proof: proof.to_vec(),
            }),
            Action::EpochProof { epoch, proof } => K::EpochProof(pb::EpochProof {
                epoch: *epoch,
                proof: proof.to_vec(),
            }),
        }
    }

    fn from_proto(kind: pb::message::Kind) -> Result<Self, MsgError> {
        use pb::message::Kind as K;
        Ok(match kind {
            K::Fund(m) => Action::Fund(amount(&m.amount)?),
            K::Withdraw(m) => Action::Withdraw(amount(&m.amount)?),
            K::BondSequencer(m) => Action::BondSequencer(amount(&m.amount)?),
            K::StakeProver(m) => Action::StakeProver(amount(&m.amount)?),
            K::BondValidator(m) => Action::BondValidator {
                amount: amount(&m.amount)?,
                consensus_key: m.consensus_key.as_slice().try_into().map_err(|_| {
                    MsgError::Field("consensus_key must be a 32-byte ed25519 public key")
                })?,
                bridge_key: Address::try_from(m.bridge_key.as_slice())
                    .map_err(|_| MsgError::Field("bridge_key must be a 20-byte address"))?,
            },
            K::Unbond(m) => Action::Unbond(match pb::Role::try_from(m.role) {
                Ok(pb::Role::Sequencer) => Role::Sequencer,
                Ok(pb::Role::Prover) => Role::Prover,
                Ok(pb::Role::Validator) => Role::Validator,
                Ok(pb::Role::Unspecified) | Err(_) => {
                    return Err(MsgError::Field("unbond.role must name a role"));
                }
            }),
            K::Heartbeat(pb::Heartbeat {}) => Action::Heartbeat,
            K::Bid(m) => Action::Bid {
                slot: m.slot,
                commitment: hash32(&m.block_commitment, "bid.block_commitment must be 32 bytes")?,
                amount: amount(&m.amount)?,
            },
            K::Select(m) => Action::Select {
                slot: m.slot,
                sequencer: Address::try_from(m.sequencer.as_slice())
                    .map_err(|_| MsgError::Field("select.sequencer must be a 20-byte address"))?,
                commitment: hash32(
                    &m.block_commitment,
                    "select.block_commitment must be 32 bytes",
                )?,
                amount: amount(&m.amount)?,
            },
            K::Reveal(m) => {
                if m.gas_limit == 0 {
                    return Err(MsgError::Field("reveal.gas_limit must be non-zero"));
                }
                if m.txs.iter().any(Vec::is_empty) {
                    return Err(MsgError::Field("reveal.txs holds an empty transaction"));
                }
                Action::Reveal {
                    slot: m.slot,
                    gas_limit: m.gas_limit,
                    txs: m.txs.into_iter().map(Bytes::from).collect(),
                }
            }
            K::ForceInclude(m) => {
                if m.tx.is_empty() {
                    return Err(MsgError::Field("force_include.tx must be a transaction"));
                }
                Action::ForceInclude(Bytes::from(m.tx))
            }
            K::Proof(m) => {
                let (slot, chunk, pre_root, post_root, proof) = proof_fields(m)?;
                Action::Proof {
                    slot,
                    chunk,
                    pre_root,
                    post_root,
                    proof,
                }
            }
            K::RevealProof(m) => {
                let (slot, chunk, pre_root, post_root, proof) = proof_fields(m)?;
                Action::RevealProof {
                    slot,
                    chunk,
                    pre_root,
                    post_root,
                    proof,
                }
            }
            K::CommitProof(m) => Action::CommitProof {
                slot: m.slot,
                chunk: m.chunk,
                hash: hash32(&m.hash, "commit_proof.hash must be 32 bytes")?,
            },
            K::Aggregate(m) => {
                if parley_proofs::aggregation::decode_epoch_snark(&m.proof).is_none() {
                    return Err(MsgError::Field(
                        "aggregate.proof must be 12 canonical accumulator limbs, then the proof",
                    ));
                }
                Action::Aggregate {
                    epoch: m.epoch,
                    proof: Bytes::from(m.proof),
                }
            }
            K::EpochProof(m) => {
                if parley_proofs::aggregation::decode_epoch_snark(&m.proof).is_none() {
                    return Err(MsgError::Field(
                        "epoch_proof.proof must be 12 canonical accumulator limbs, then the proof",
                    ));
                }
                Action::EpochProof {
                    epoch: m.epoch,
                    proof: Bytes::from(m.proof),
                }
            }
        })
    }
}

/// A `Proof`'s or `RevealProof`'s fields: roots canonical field elements, proof bytes present.
fn proof_fields(m: pb::Proof) -> Result<(u64, u32, B256, B256, Bytes), MsgError> {
    let root = |b: &[u8], what| {
        let r = hash32(b, what)?;
        parley_proofs::encoding::fr_from_b256(&r)
            .map(|_| r)
            .ok_or(MsgError::Field(
                "proof roots must be below the BN254 scalar modulus",
            ))
    };
    if m.proof.is_empty() {
        return Err(MsgError::Field("proof.proof must hold the proof bytes"));
    }
    Ok((
        m.slot,
        m.chunk,
        root(&m.pre_root, "proof.pre_root must be 32 bytes")?,
        root(&m.post_root, "proof.post_root must be 32 bytes")?,
        Bytes::from(m.proof),
    ))
}

fn hash32(b: &[u8], what: &'static str) -> Result<B256, MsgError> {
    B256::try_from(b).map_err(|_| MsgError::Field(what))
}

fn amount(b: &[u8]) -> Result<U256, MsgError> {
    if b.len() != 32 {
        return Err(MsgError::Field("amounts are exactly 32 bytes, big-endian"));
    }
    let a = U256::from_be_slice(b);
    if a.is_zero() {
        return Err(MsgError::Field("amount must be non-zero"));
    }
    Ok(a)
}

/// A decoded, signature-checked protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedMsg {
    /// The address the signature recovers to.
    pub sender: Address,
    /// The sender's protocol nonce it carries.
    pub nonce: u64,
    /// What it asks.
    pub action: Action,
    /// keccak256 of the whole CometBFT transaction (its identity in the mempool and RPC).
    pub hash: B256,
}

/// Why bytes are not a valid signed message. Each has its own CheckTx code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsgError {
    /// Over its kind's limit ([`MAX_MESSAGE_BYTES`], [`MAX_PROOF_MESSAGE_BYTES`] for a proof,
    /// or [`MAX_LARGE_MESSAGE_BYTES`] for the
    /// kinds that carry transactions).
    #[error("protocol message of {0} bytes exceeds its {1}-byte limit")]
    TooLarge(usize, usize),
    /// Not protobuf, or not in canonical form.
    #[error("malformed protocol message: {0}")]
    Malformed(&'static str),
    /// A field with a value that cannot be right.
    #[error("invalid protocol message field: {0}")]
    Field(&'static str),
    /// For another chain.
    #[error("protocol message for chain {got}, this chain is {expected}")]
    ChainId {
        /// This chain.
        expected: u64,
        /// What the message says.
        got: u64,
    },
    /// The signature is malformed, malleable or does not recover.
    #[error("invalid protocol message signature: {0}")]
    Signature(&'static str),
}

impl MsgError {
    /// The CheckTx / FinalizeBlock result code (codespace `parley`), after the EVM
    /// transaction codes.
    pub fn code(&self) -> u32 {
        match self {
            MsgError::TooLarge(..) => 30,
            MsgError::Malformed(_) => 31,
            MsgError::Field(_) => 32,
            MsgError::ChainId { .. } => 33,
            MsgError::Signature(_) => 34,
        }
    }
}

/// The digest a sender signs (see the module docs).
pub fn digest(chain_id: u64, kind: Kind, nonce: u64, message: &[u8]) -> B256 {
    let mut buf = Vec::with_capacity(DOMAIN.len() + 8 + 4 + 8 + 32);
    buf.extend_from_slice(DOMAIN);
    buf.extend_from_slice(&chain_id.to_be_bytes());
    buf.extend_from_slice(&(kind as u32).to_be_bytes());
    buf.extend_from_slice(&nonce.to_be_bytes());
    buf.extend_from_slice(keccak256(message).as_slice());
    keccak256(buf)
}

/// The encoded `Message` body for `action` (what the signature's digest covers).
pub fn body(chain_id: u64, nonce: u64, action: &Action) -> Vec<u8> {
    pb::Message {
        chain_id,
        nonce,
        kind: Some(action.to_proto()),
    }
    .encode_to_vec()
}

/// Wraps a body and its 65-byte signature into the CometBFT transaction bytes.
pub fn envelope(message: Vec<u8>, signature: [u8; 65]) -> Vec<u8> {
    let signed = pb::SignedMessage {
        message,
        signature: signature.to_vec(),
    };
    let mut out = Vec::with_capacity(6 + signed.encoded_len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(KIND_SIGNED);
    signed
        .encode(&mut out)
        .expect("a Vec grows to fit the message");
    out
}

/// `r ‖ s ‖ v` with `v ∈ {0, 1}`.
pub fn signature_bytes(sig: &Signature) -> [u8; 65] {
    let mut out = [0u8; 65];
    out[..32].copy_from_slice(&sig.r().to_be_bytes::<32>());
    out[32..64].copy_from_slice(&sig.s().to_be_bytes::<32>());
    out[64] = u8::from(sig.v());
    out
}

/// Signs `action` with `key` as the sender's `nonce`-th message on `chain_id`: the CometBFT
/// transaction bytes. (Used by the CLI, the built-in roles and tests.)
pub fn sign(
    key: &alloy_signer_local::PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    action: &Action,
) -> Vec<u8> {
    use alloy_signer::SignerSync as _;
    let message = body(chain_id, nonce, action);
    let d = digest(chain_id, action.kind(), nonce, &message);
    let sig = key
        .sign_hash_sync(&d)
        .expect("signing a 32-byte digest with a local key cannot fail");
    envelope(message, signature_bytes(&sig))
}

/// Whether `tx` is a signed protocol message (by its envelope prefix only).
pub fn is_signed_message(tx: &[u8]) -> bool {
    tx.len() >= 6 && tx.starts_with(MAGIC) && tx[5] == KIND_SIGNED
}

fn canonical<M: prost::Message + Default>(bytes: &[u8], what: &'static str) -> Result<M, MsgError> {
    let m = M::decode(bytes).map_err(|_| MsgError::Malformed(what))?;
    if m.encode_to_vec() != bytes {
        return Err(MsgError::Malformed(
            "not in canonical protobuf form (unknown or default fields, field order, varints)",
        ));
    }
    Ok(m)
}

/// Decodes and checks a signed message statelessly: size, envelope, canonical form, fields,
/// chain id and signature. State rules (nonce, funds, roles) are [`crate::chain::ledger`]'s.
pub fn decode(tx: &[u8], chain_id: u64) -> Result<SignedMsg, MsgError> {
    if tx.len() > MAX_LARGE_MESSAGE_BYTES {
        return Err(MsgError::TooLarge(tx.len(), MAX_LARGE_MESSAGE_BYTES));
    }
    let rest = tx
        .strip_prefix(MAGIC.as_slice())
        .and_then(|r| r.strip_prefix(&[VERSION, KIND_SIGNED]))
        .ok_or(MsgError::Malformed("no PRLY v1 signed-message envelope"))?;
    let signed: pb::SignedMessage = canonical(rest, "signed message is not protobuf")?;
    let msg: pb::Message = canonical(&signed.message, "message body is not protobuf")?;
    if msg.chain_id != chain_id {
        return Err(MsgError::ChainId {
            expected: chain_id,
            got: msg.chain_id,
        });
    }
    let action = Action::from_proto(msg.kind.ok_or(MsgError::Field("no message kind set"))?)?;
    let limit = match action {
        Action::Reveal { .. } | Action::ForceInclude(_) => MAX_LARGE_MESSAGE_BYTES,
        Action::Proof { .. }
        | Action::RevealProof { .. }
        | Action::Aggregate { .. }
        | Action::EpochProof { .. } => MAX_PROOF_MESSAGE_BYTES,
        _ => MAX_MESSAGE_BYTES,
    };
    if tx.len() > limit {
        return Err(MsgError::TooLarge(tx.len(), limit));
    }
    let sig: [u8; 65] = signed
        .signature
        .as_slice()
        .try_into()
        .map_err(|_| MsgError::Signature("must be 65 bytes r ‖ s ‖ v"))?;
    let parity = match sig[64] {
        0 => false,
        1 => true,
        _ => return Err(MsgError::Signature("v must be 0 or 1")),
    };
    let r = U256::from_be_slice(&sig[..32]);
    let s = U256::from_be_slice(&sig[32..64]);
    // (`>=` here is equivalent in practice: a valid signature with `s` exactly n/2 cannot be
    // found without breaking the key.)
    if s > SECP256K1N_HALF {
        return Err(MsgError::Signature("high s (malleable)"));
    }
    let d = digest(chain_id, action.kind(), msg.nonce, &signed.message);
    let sender = Signature::new(r, s, parity)
        .recover_address_from_prehash(&d)
        .map_err(|_| MsgError::Signature("does not recover to a public key"))?;
    Ok(SignedMsg {
        sender,
        nonce: msg.nonce,
        action,
        hash: keccak256(tx),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_signer_local::PrivateKeySigner;
    use proptest::prelude::*;

    const CHAIN: u64 = 424_242;

    fn key(i: u8) -> PrivateKeySigner {
        PrivateKeySigner::from_bytes(&B256::repeat_byte(i.max(1))).expect("valid key")
    }

    fn actions() -> Vec<Action> {
        vec![
            Action::Fund(U256::from(5)),
            Action::Withdraw(U256::MAX),
            Action::BondSequencer(U256::from(1)),
            Action::StakeProver(U256::from(7) << 100),
            Action::BondValidator {
                amount: U256::from(3),
                consensus_key: [9; 32],
                bridge_key: Address::repeat_byte(4),
            },
            Action::Unbond(Role::Sequencer),
            Action::Unbond(Role::Prover),
            Action::Unbond(Role::Validator),
            Action::Heartbeat,
            Action::Bid {
                slot: 9,
                commitment: B256::repeat_byte(1),
                amount: U256::from(100),
            },
            Action::Select {
                slot: 0,
                sequencer: Address::repeat_byte(2),
                commitment: B256::repeat_byte(3),
                amount: U256::from(1),
            },
            Action::Reveal {
                slot: 12,
                gas_limit: 30_000_000,
                txs: vec![Bytes::from(vec![2, 0xc0]), Bytes::from(vec![1])],
            },
            Action::Reveal {
                slot: 13,
                gas_limit: 1,
                txs: vec![],
            },
            Action::ForceInclude(Bytes::from(vec![0xf8, 1, 2])),
            Action::Proof {
                slot: 14,
                chunk: 3,
                pre_root: B256::ZERO,
                post_root: B256::with_last_byte(9),
                proof: Bytes::from(vec![7; 3000]),
            },
            Action::CommitProof {
                slot: 15,
                chunk: 1,
                hash: B256::repeat_byte(8),
            },
            Action::RevealProof {
                slot: 15,
                chunk: 2,
                pre_root: B256::with_last_byte(1),
                post_root: B256::with_last_byte(2),
                proof: Bytes::from(vec![6; 3000]),
            },
            Action::Aggregate {
                epoch: 3,
                proof: Bytes::from(vec![0; 12 * 32 + 4000]),
            },
            Action::EpochProof {
                epoch: 3,
                proof: Bytes::from(vec![0; 12 * 32 + 2656]),
            },
        ]
    }

    #[test]
    fn the_test_actions_cover_every_kind() {
        let kinds: std::collections::BTreeSet<Kind> = actions().iter().map(Action::kind).collect();
        assert_eq!(kinds.into_iter().collect::<Vec<_>>(), Kind::ALL.to_vec());
    }

    /// A `RevealProof` is held to a `Proof`'s field checks and size limit; a `CommitProof`'s
    /// hash is exactly 32 bytes.
    #[test]
    fn reveal_and_commit_fields_are_checked() {
        let k = key(5);
        let r = B256::from(alloy_primitives::uint!(
            0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001_U256
        ));
        let reveal = |pre_root, n: usize| Action::RevealProof {
            slot: 1,
            chunk: 0,
            pre_root,
            post_root: B256::ZERO,
            proof: Bytes::from(vec![1; n]),
        };
        assert!(decode(&sign(&k, CHAIN, 0, &reveal(B256::ZERO, 60 * 1024)), CHAIN).is_ok());
        assert_eq!(
            decode(&sign(&k, CHAIN, 0, &reveal(r, 10)), CHAIN),
            Err(MsgError::Field(
                "proof roots must be below the BN254 scalar modulus"
            ))
        );
        assert_eq!(
            decode(&sign(&k, CHAIN, 0, &reveal(B256::ZERO, 0)), CHAIN),
            Err(MsgError::Field("proof.proof must hold the proof bytes"))
        );
        let big = sign(&k, CHAIN, 0, &reveal(B256::ZERO, MAX_PROOF_MESSAGE_BYTES));
        assert_eq!(
            decode(&big, CHAIN),
            Err(MsgError::TooLarge(big.len(), MAX_PROOF_MESSAGE_BYTES))
        );
        // A 31-byte hash, encoded by hand and signed like any message.
        let m = pb::Message {
            chain_id: CHAIN,
            nonce: 0,
            kind: Some(pb::message::Kind::CommitProof(pb::CommitProof {
                slot: 1,
                chunk: 0,
                hash: vec![1; 31],
            })),
        };
        assert_eq!(
            Action::from_proto(m.kind.expect("set")),
            Err(MsgError::Field("commit_proof.hash must be 32 bytes"))
        );
    }

    /// A proof's roots must be canonical field elements, its bytes non-empty, and the whole
    /// message within [`MAX_PROOF_MESSAGE_BYTES`] (more than other small kinds, less than a
    /// block).
    #[test]
    fn proof_fields_and_size_are_checked() {
        let k = key(4);
        // The BN254 scalar modulus r: the smallest non-canonical root.
        let r = B256::from(alloy_primitives::uint!(
            0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001_U256
        ));
        let below = B256::from(U256::from_be_bytes(r.0) - U256::from(1));
        let proof = |pre_root, post_root, n: usize| Action::Proof {
            slot: 1,
            chunk: 0,
            pre_root,
            post_root,
            proof: Bytes::from(vec![1; n]),
        };
        assert!(decode(&sign(&k, CHAIN, 0, &proof(below, below, 10)), CHAIN).is_ok());
        for bad in [proof(r, below, 10), proof(below, r, 10)] {
            assert_eq!(
                decode(&sign(&k, CHAIN, 0, &bad), CHAIN),
                Err(MsgError::Field(
                    "proof roots must be below the BN254 scalar modulus"
                ))
            );
        }
        assert_eq!(
            decode(&sign(&k, CHAIN, 0, &proof(below, below, 0)), CHAIN),
            Err(MsgError::Field("proof.proof must hold the proof bytes"))
        );
        let fits = sign(&k, CHAIN, 0, &proof(below, below, 60 * 1024));
        assert!(fits.len() > MAX_MESSAGE_BYTES);
        assert!(decode(&fits, CHAIN).is_ok());
        let big = sign(&k, CHAIN, 0, &proof(below, below, MAX_PROOF_MESSAGE_BYTES));
        assert_eq!(
            decode(&big, CHAIN),
            Err(MsgError::TooLarge(big.len(), MAX_PROOF_MESSAGE_BYTES))
        );
    }

    #[test]
    fn every_action_round_trips_with_its_sender() {
        let k = key(1);
        for (i, a) in actions().into_iter().enumerate() {
            let tx = sign(&k, CHAIN, i as u64, &a);
            assert!(is_signed_message(&tx));
            let m = decode(&tx, CHAIN).expect("valid");
            assert_eq!(m.sender, k.address());
            assert_eq!(m.nonce, i as u64);
            assert_eq!(m.action, a);
            assert_eq!(m.hash, keccak256(&tx));
        }
    }

    /// Splits a signed message into its body and signature.
    fn parts(tx: &[u8]) -> (Vec<u8>, [u8; 65]) {
        let s = pb::SignedMessage::decode(&tx[6..]).expect("protobuf");
        (s.message, s.signature.try_into().expect("65 bytes"))
    }

    #[test]
    fn another_chain_kind_or_nonce_does_not_verify_as_the_signer() {
        let k = key(2);
        let tx = sign(&k, CHAIN, 3, &Action::Fund(U256::from(10)));
        let (_, sig) = parts(&tx);
        // Same signature on the body for another chain: refused as that chain's message,
        // and read as ours it does not come from the signer.
        let other_chain = envelope(body(CHAIN + 1, 3, &Action::Fund(U256::from(10))), sig);
        assert_eq!(
            decode(&other_chain, CHAIN),
            Err(MsgError::ChainId {
                expected: CHAIN,
                got: CHAIN + 1
            })
        );
        assert_ne!(
            decode(&other_chain, CHAIN + 1).map(|m| m.sender).ok(),
            Some(k.address())
        );
        // Same signature over another nonce or another kind with the same amount bytes.
        for forged in [
            envelope(body(CHAIN, 4, &Action::Fund(U256::from(10))), sig),
            envelope(body(CHAIN, 3, &Action::Withdraw(U256::from(10))), sig),
        ] {
            assert_ne!(
                decode(&forged, CHAIN).map(|m| m.sender).ok(),
                Some(k.address())
            );
        }
        // The digest itself separates chain, kind and nonce for identical body bytes.
        let b = body(CHAIN, 3, &Action::Fund(U256::from(10)));
        let d = digest(CHAIN, Kind::Fund, 3, &b);
        assert_ne!(d, digest(CHAIN + 1, Kind::Fund, 3, &b));
        assert_ne!(d, digest(CHAIN, Kind::Withdraw, 3, &b));
        assert_ne!(d, digest(CHAIN, Kind::Fund, 4, &b));
    }

    #[test]
    fn high_s_and_bad_v_are_refused() {
        let k = key(3);
        let tx = sign(&k, CHAIN, 0, &Action::Heartbeat);
        let (message, mut sig) = parts(&tx);
        // The malleable twin (n - s, flipped parity) recovers to the same key, so it must be
        // refused outright.
        let n = alloy_primitives::uint!(
            0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141_U256
        );
        let s = U256::from_be_slice(&sig[32..64]);
        let mut twin = sig;
        twin[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
        twin[64] ^= 1;
        assert_eq!(
            decode(&envelope(message.clone(), twin), CHAIN),
            Err(MsgError::Signature("high s (malleable)"))
        );
        sig[64] = 27;
        assert_eq!(
            decode(&envelope(message, sig), CHAIN),
            Err(MsgError::Signature("v must be 0 or 1"))
        );
    }

    #[test]
    fn non_canonical_encodings_are_refused() {
        let k = key(4);
        let tx = sign(&k, CHAIN, 0, &Action::Fund(U256::from(1)));
        // A trailing unknown field (number 15, varint 0) on the outer message.
        let mut extra = tx.clone();
        extra.extend_from_slice(&[0x78, 0x00]);
        assert!(matches!(decode(&extra, CHAIN), Err(MsgError::Malformed(_))));
        // An explicit default (nonce = 0 written out) inside the body.
        let (message, sig) = parts(&tx);
        let mut padded = vec![0x10, 0x00];
        padded.extend_from_slice(&message);
        assert!(matches!(
            decode(&envelope(padded, sig), CHAIN),
            Err(MsgError::Malformed(_))
        ));
        // A short amount.
        let short = pb::Message {
            chain_id: CHAIN,
            nonce: 0,
            kind: Some(pb::message::Kind::Fund(pb::Fund { amount: vec![1] })),
        }
        .encode_to_vec();
        assert_eq!(
            decode(&envelope(short, sig), CHAIN),
            Err(MsgError::Field("amounts are exactly 32 bytes, big-endian"))
        );
        // A zero amount, a missing kind, an unspecified role.
        let zero = body(CHAIN, 0, &Action::Fund(U256::ZERO));
        assert_eq!(
            decode(&envelope(zero, sig), CHAIN),
            Err(MsgError::Field("amount must be non-zero"))
        );
        let none = pb::Message {
            chain_id: CHAIN,
            nonce: 1,
            kind: None,
        }
        .encode_to_vec();
        assert_eq!(
            decode(&envelope(none, sig), CHAIN),
            Err(MsgError::Field("no message kind set"))
        );
        let unspecified = pb::Message {
            chain_id: CHAIN,
            nonce: 1,
            kind: Some(pb::message::Kind::Unbond(pb::Unbond { role: 0 })),
        }
        .encode_to_vec();
        assert_eq!(
            decode(&envelope(unspecified, sig), CHAIN),
            Err(MsgError::Field("unbond.role must name a role"))
        );
        // A small kind is held to 16 KiB once decoded: a Fund whose (bad) signature field
        // pads it to exactly the limit fails on the signature, one byte more is too large.
        let padded = |n: usize| {
            let mut raw = vec![b'P', b'R', b'L', b'Y', VERSION, KIND_SIGNED];
            let shell = pb::SignedMessage {
                message: message.clone(),
                signature: vec![],
            }
            .encoded_len();
            // Field 2's tag and a 2-byte length prefix (for lengths of 128..16383 bytes).
            let sig_len = n - raw.len() - shell - 3;
            pb::SignedMessage {
                message: message.clone(),
                signature: vec![7; sig_len],
            }
            .encode(&mut raw)
            .expect("vec");
            assert_eq!(raw.len(), n);
            raw
        };
        assert_eq!(
            decode(&padded(MAX_MESSAGE_BYTES), CHAIN),
            Err(MsgError::Signature("must be 65 bytes r ‖ s ‖ v"))
        );
        assert_eq!(
            decode(&padded(MAX_MESSAGE_BYTES + 1), CHAIN),
            Err(MsgError::TooLarge(MAX_MESSAGE_BYTES + 1, MAX_MESSAGE_BYTES))
        );
        // A reveal may be larger; nothing is over 1 MiB, refused before any decoding.
        let reveal = sign(
            &k,
            CHAIN,
            0,
            &Action::Reveal {
                slot: 1,
                gas_limit: 1,
                txs: vec![Bytes::from(vec![1u8; 100_000])],
            },
        );
        assert!(reveal.len() > MAX_MESSAGE_BYTES);
        assert!(decode(&reveal, CHAIN).is_ok());
        let mut big = tx;
        big.resize(MAX_LARGE_MESSAGE_BYTES + 1, 0);
        assert_eq!(
            decode(&big, CHAIN),
            Err(MsgError::TooLarge(
                MAX_LARGE_MESSAGE_BYTES + 1,
                MAX_LARGE_MESSAGE_BYTES
            ))
        );
        let mut edge = reveal;
        edge.resize(MAX_LARGE_MESSAGE_BYTES, 0);
        assert!(matches!(decode(&edge, CHAIN), Err(MsgError::Malformed(_))));
    }

    proptest! {
        /// Garbage after the envelope prefix, or flipped bytes in a valid message, never
        /// panics, and a flipped message never verifies as the original signer's.
        #[test]
        fn garbage_is_refused_without_panic(junk in proptest::collection::vec(any::<u8>(), 0..300), at in any::<usize>(), bit in 0u8..8) {
            let mut tx = vec![b'P', b'R', b'L', b'Y', VERSION, KIND_SIGNED];
            tx.extend_from_slice(&junk);
            let _ = decode(&tx, CHAIN);
            let k = key(5);
            let good = sign(&k, CHAIN, 9, &Action::StakeProver(U256::from(77)));
            let mut bad = good.clone();
            let i = at % bad.len();
            bad[i] ^= 1 << bit;
            // Any change of the bytes changes the digest or the signature: whatever still
            // decodes comes from someone else.
            if let Ok(m) = decode(&bad, CHAIN) {
                prop_assert_ne!(m.sender, k.address());
            }
        }
    }
}
