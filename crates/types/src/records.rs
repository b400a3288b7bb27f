//! Block and transaction records: what a node keeps about each executed L2 block and
//! transaction so that JSON-RPC can serve blocks, transactions, receipts and logs.
//!
//! Records are derived data, not consensus state: the app hash, the block hash and the
//! receipts root are computed from the header, the receipts and the state, never from these
//! bytes. A node stores them in its `blocks` and `txs` tables.
//!
//! # Encoding (version 1)
//!
//! A hand-written binary codec in the style of every other value in this crate, chosen over
//! RLP and over the JSON it replaces:
//!
//! - integers are fixed-width big-endian, hashes and addresses raw, flags one byte `0x00`/`0x01`,
//!   variable parts `count u32 ‖ items`; so a value has exactly one encoding and decoding then
//!   re-encoding any accepted input gives back the same bytes (the property tests check it);
//! - RLP has no canonical form for the options, flags and pairs the records hold, and would
//!   add a dependency to the schema crate for no gain: records are never hashed or gossiped;
//! - decoding reads from the front, checks the version, refuses truncation, counts that the
//!   bytes left cannot hold, non-0/1 flags and trailing bytes with a [`RecordError`], and
//!   never allocates more than a small constant factor of the input (a count is checked
//!   against the least bytes one item can take). It never panics.
//!
//! ```text
//! BlockRecord = 0x01 ‖ number u64 ‖ hash ‖ parent_hash ‖ timestamp u64 ‖ builder(20) ‖
//!               base_fee u64 ‖ gas_limit u64 ‖ gas_used u64 ‖ tx_root ‖ receipts_root ‖
//!               logs_bloom(256) ‖ state_root ‖ n u32 ‖ tx_hash × n ‖
//!               m u32 ‖ (effective_gas_price u128 ‖ gas_used u64) × m
//! TxRecord    = 0x01 ‖ hash ‖ from(20) ‖ len u32 ‖ raw(len) ‖ block_number u64 ‖ block_hash ‖
//!               block_timestamp u64 ‖ index u32 ‖ first_log_index u64 ‖ receipt
//! receipt     = success(0|1) ‖ gas_used u64 ‖ cumulative_gas_used u64 ‖
//!               effective_gas_price u128 ‖ (0x00 | 0x01 ‖ contract_address(20)) ‖
//!               logs_bloom(256) ‖ n u32 ‖ log × n
//! log         = address(20) ‖ t u8 (≤ 4) ‖ topic × t ‖ len u32 ‖ data(len)
//! ```
//! (hashes are 32 bytes.) A change of layout bumps the version byte; a node refuses records of
//! another version ([`RecordError::Version`]) instead of misreading them.

use alloy_primitives::{Address, B256, Bloom, Bytes, Log, LogData};

/// Encoding version of [`BlockRecord`] and [`TxRecord`].
pub const RECORD_VERSION: u8 = 0x01;

/// Most topics an EVM log has (`LOG0` … `LOG4`).
const MAX_TOPICS: u8 = 4;

/// Why bytes are not a record. On bytes read from the node's own database any of these means
/// the database is corrupt or was written by an incompatible version.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// The leading version byte is not [`RECORD_VERSION`].
    #[error("{what}: unsupported version {got:#04x} (this node reads {RECORD_VERSION:#04x})")]
    Version {
        /// The record kind.
        what: &'static str,
        /// The version byte found.
        got: u8,
    },
    /// The input ends inside a field.
    #[error("{what}: truncated: needs {needed} bytes, {left} left")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left.
        left: usize,
    },
    /// A count or length that the bytes left cannot hold.
    #[error("{what}: declares {count} items of at least {item} bytes, only {left} bytes left")]
    Length {
        /// The list or byte string.
        what: &'static str,
        /// The declared count.
        count: u32,
        /// The least size of one item.
        item: usize,
        /// Bytes left.
        left: usize,
    },
    /// A flag or a small count with a value the encoding never produces.
    #[error("{what}: invalid byte {byte:#04x}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// The byte found.
        byte: u8,
    },
    /// Bytes after the end of the record.
    #[error("{what}: {extra} trailing bytes")]
    Trailing {
        /// The record kind.
        what: &'static str,
        /// How many.
        extra: usize,
    },
}

/// Result alias for record decoding.
pub type RecordResult<T> = Result<T, RecordError>;

/// An executed L2 block, as served by JSON-RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRecord {
    /// Block number (= CometBFT height).
    pub number: u64,
    /// Block hash (= the header hash, the bid commitment).
    pub hash: B256,
    /// Parent block hash.
    pub parent_hash: B256,
    /// Seconds since the epoch.
    pub timestamp: u64,
    /// Fee recipient.
    pub builder: Address,
    /// Base fee per gas.
    pub base_fee: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Gas used by the executed txs.
    pub gas_used: u64,
    /// Hash of the proposed tx hashes (the header field).
    pub tx_root: B256,
    /// `keccak256` over the executed receipts (see docs/protocol.md).
    pub receipts_root: B256,
    /// Bloom of all logs.
    pub logs_bloom: Bloom,
    /// App hash after this block.
    pub state_root: B256,
    /// Hashes of the executed transactions (skipped ones are not listed).
    pub tx_hashes: Vec<B256>,
    /// (effective gas price, gas used) per executed transaction, for `eth_feeHistory`.
    pub tx_fees: Vec<(u128, u64)>,
}

/// An executed transaction with its receipt, stored by tx hash (JSON-RPC reads one without
/// loading its block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRecord {
    /// Transaction hash.
    pub hash: B256,
    /// Sender.
    pub from: Address,
    /// EIP-2718 bytes.
    pub raw: Bytes,
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Block timestamp.
    pub block_timestamp: u64,
    /// Position in the block.
    pub index: u32,
    /// Block-wide index of this tx's first log.
    pub first_log_index: u64,
    /// The receipt.
    pub receipt: RecordReceipt,
}

/// A receipt as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordReceipt {
    /// 1 success, 0 revert/halt.
    pub success: bool,
    /// Gas this tx used.
    pub gas_used: u64,
    /// Gas used by the block up to and including this tx.
    pub cumulative_gas_used: u64,
    /// Price per gas actually paid.
    pub effective_gas_price: u128,
    /// Address created by a contract-creation tx.
    pub contract_address: Option<Address>,
    /// Logs emitted (empty on failure).
    pub logs: Vec<Log>,
    /// Bloom of the logs.
    pub logs_bloom: Bloom,
}

/// Length prefix of a list or byte string. Records come from one block, whose transaction
/// count, transaction size and log sizes are bounded far below 2^32 by the chain's limits.
fn count(n: usize, what: &str) -> [u8; 4] {
    u32::try_from(n)
        .unwrap_or_else(|_| panic!("{what}: {n} items exceed the record format's 2^32"))
        .to_be_bytes()
}

impl BlockRecord {
    /// Canonical bytes (see the module documentation).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            1 + 8 * 5 + 32 * 5 + 20 + 256 + 8 + self.tx_hashes.len() * 32 + self.tx_fees.len() * 24,
        );
        out.push(RECORD_VERSION);
        out.extend_from_slice(&self.number.to_be_bytes());
        out.extend_from_slice(self.hash.as_slice());
        out.extend_from_slice(self.parent_hash.as_slice());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(self.builder.as_slice());
        out.extend_from_slice(&self.base_fee.to_be_bytes());
        out.extend_from_slice(&self.gas_limit.to_be_bytes());
        out.extend_from_slice(&self.gas_used.to_be_bytes());
        out.extend_from_slice(self.tx_root.as_slice());
        out.extend_from_slice(self.receipts_root.as_slice());
        out.extend_from_slice(self.logs_bloom.as_slice());
        out.extend_from_slice(self.state_root.as_slice());
        out.extend_from_slice(&count(self.tx_hashes.len(), "block tx hashes"));
        for h in &self.tx_hashes {
            out.extend_from_slice(h.as_slice());
        }
        out.extend_from_slice(&count(self.tx_fees.len(), "block tx fees"));
        for (price, gas) in &self.tx_fees {
            out.extend_from_slice(&price.to_be_bytes());
            out.extend_from_slice(&gas.to_be_bytes());
        }
        out
    }

    /// Decodes [`Self::encode`]'s output; anything else is a [`RecordError`].
    pub fn decode(bytes: &[u8]) -> RecordResult<Self> {
        let mut r = Cursor(bytes);
        r.version("block record")?;
        let record = Self {
            number: r.u64("block number")?,
            hash: r.b256("block hash")?,
            parent_hash: r.b256("block parent hash")?,
            timestamp: r.u64("block timestamp")?,
            builder: r.address("block builder")?,
            base_fee: r.u64("block base fee")?,
            gas_limit: r.u64("block gas limit")?,
            gas_used: r.u64("block gas used")?,
            tx_root: r.b256("block tx root")?,
            receipts_root: r.b256("block receipts root")?,
            logs_bloom: r.bloom("block logs bloom")?,
            state_root: r.b256("block state root")?,
            tx_hashes: {
                let n = r.count("block tx hashes", 32)?;
                (0..n)
                    .map(|_| r.b256("block tx hash"))
                    .collect::<RecordResult<_>>()?
            },
            tx_fees: {
                let n = r.count("block tx fees", 24)?;
                (0..n)
                    .map(|_| Ok((r.u128("tx fee price")?, r.u64("tx fee gas")?)))
                    .collect::<RecordResult<_>>()?
            },
        };
        r.end("block record")?;
        Ok(record)
    }
}

impl TxRecord {
    /// Canonical bytes (see the module documentation).
    pub fn encode(&self) -> Vec<u8> {
        let logs: usize = self
            .receipt
            .logs
            .iter()
            .map(|l| 25 + 32 * l.topics().len() + l.data.data.len())
            .sum();
        let mut out =
            Vec::with_capacity(1 + 32 * 2 + 20 * 2 + 4 + self.raw.len() + 8 * 6 + 300 + logs);
        out.push(RECORD_VERSION);
        out.extend_from_slice(self.hash.as_slice());
        out.extend_from_slice(self.from.as_slice());
        out.extend_from_slice(&count(self.raw.len(), "tx bytes"));
        out.extend_from_slice(&self.raw);
        out.extend_from_slice(&self.block_number.to_be_bytes());
        out.extend_from_slice(self.block_hash.as_slice());
        out.extend_from_slice(&self.block_timestamp.to_be_bytes());
        out.extend_from_slice(&self.index.to_be_bytes());
        out.extend_from_slice(&self.first_log_index.to_be_bytes());
        let rec = &self.receipt;
        out.push(u8::from(rec.success));
        out.extend_from_slice(&rec.gas_used.to_be_bytes());
        out.extend_from_slice(&rec.cumulative_gas_used.to_be_bytes());
        out.extend_from_slice(&rec.effective_gas_price.to_be_bytes());
        match rec.contract_address {
            None => out.push(0),
            Some(a) => {
                out.push(1);
                out.extend_from_slice(a.as_slice());
            }
        }
        out.extend_from_slice(rec.logs_bloom.as_slice());
        out.extend_from_slice(&count(rec.logs.len(), "receipt logs"));
        for l in &rec.logs {
            out.extend_from_slice(l.address.as_slice());
            let topics = l.topics();
            // `LogData` refuses more than four topics, so this fits a byte.
            out.push(u8::try_from(topics.len()).expect("a log has at most 4 topics"));
            for t in topics {
                out.extend_from_slice(t.as_slice());
            }
            out.extend_from_slice(&count(l.data.data.len(), "log data"));
            out.extend_from_slice(&l.data.data);
        }
        out
    }

    /// Decodes [`Self::encode`]'s output; anything else is a [`RecordError`].
    pub fn decode(bytes: &[u8]) -> RecordResult<Self> {
        let mut r = Cursor(bytes);
        r.version("tx record")?;
        let hash = r.b256("tx hash")?;
        let from = r.address("tx sender")?;
        let raw = r.bytes("tx bytes")?;
        let block_number = r.u64("tx block number")?;
        let block_hash = r.b256("tx block hash")?;
        let block_timestamp = r.u64("tx block timestamp")?;
        let index = r.u32("tx index")?;
        let first_log_index = r.u64("tx first log index")?;
        let success = r.flag("receipt success")?;
        let gas_used = r.u64("receipt gas used")?;
        let cumulative_gas_used = r.u64("receipt cumulative gas used")?;
        let effective_gas_price = r.u128("receipt effective gas price")?;
        let contract_address = if r.flag("receipt contract address presence")? {
            Some(r.address("receipt contract address")?)
        } else {
            None
        };
        let logs_bloom = r.bloom("receipt logs bloom")?;
        // A log is at least address, topic count and data length: 25 bytes.
        let n = r.count("receipt logs", 25)?;
        let logs = (0..n)
            .map(|_| {
                let address = r.address("log address")?;
                let t = r.take(1, "log topic count")?[0];
                if t > MAX_TOPICS {
                    return Err(RecordError::Invalid {
                        what: "log topic count",
                        byte: t,
                    });
                }
                let topics = (0..t)
                    .map(|_| r.b256("log topic"))
                    .collect::<RecordResult<Vec<_>>>()?;
                let data = r.bytes("log data")?;
                Ok(Log {
                    address,
                    data: LogData::new_unchecked(topics, data),
                })
            })
            .collect::<RecordResult<_>>()?;
        r.end("tx record")?;
        Ok(Self {
            hash,
            from,
            raw,
            block_number,
            block_hash,
            block_timestamp,
            index,
            first_log_index,
            receipt: RecordReceipt {
                success,
                gas_used,
                cumulative_gas_used,
                effective_gas_price,
                contract_address,
                logs,
                logs_bloom,
            },
        })
    }
}

/// Reads a record front to back.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> RecordResult<&'a [u8]> {
        if self.0.len() < n {
            return Err(RecordError::Truncated {
                what,
                needed: n,
                left: self.0.len(),
            });
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> RecordResult<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn version(&mut self, what: &'static str) -> RecordResult<()> {
        match self.take(1, what)?[0] {
            RECORD_VERSION => Ok(()),
            got => Err(RecordError::Version { what, got }),
        }
    }

    fn u32(&mut self, what: &'static str) -> RecordResult<u32> {
        self.array(what).map(u32::from_be_bytes)
    }

    fn u64(&mut self, what: &'static str) -> RecordResult<u64> {
        self.array(what).map(u64::from_be_bytes)
    }

    fn u128(&mut self, what: &'static str) -> RecordResult<u128> {
        self.array(what).map(u128::from_be_bytes)
    }

    fn b256(&mut self, what: &'static str) -> RecordResult<B256> {
        self.array(what).map(B256::from)
    }

    fn address(&mut self, what: &'static str) -> RecordResult<Address> {
        self.array(what).map(Address::from)
    }

    fn bloom(&mut self, what: &'static str) -> RecordResult<Bloom> {
        self.array::<256>(what).map(Bloom::from)
    }

    fn flag(&mut self, what: &'static str) -> RecordResult<bool> {
        match self.take(1, what)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            byte => Err(RecordError::Invalid { what, byte }),
        }
    }

    /// A count of items of at least `item` bytes each, checked against the bytes left so a
    /// corrupt count can neither allocate nor loop beyond the input.
    fn count(&mut self, what: &'static str, item: usize) -> RecordResult<u32> {
        let count = self.u32(what)?;
        let left = self.0.len();
        if (count as usize).saturating_mul(item) > left {
            return Err(RecordError::Length {
                what,
                count,
                item,
                left,
            });
        }
        Ok(count)
    }

    fn bytes(&mut self, what: &'static str) -> RecordResult<Bytes> {
        let len = self.count(what, 1)?;
        Ok(Bytes::copy_from_slice(self.take(len as usize, what)?))
    }

    fn end(&self, what: &'static str) -> RecordResult<()> {
        match self.0.len() {
            0 => Ok(()),
            extra => Err(RecordError::Trailing { what, extra }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b256() -> impl Strategy<Value = B256> {
        any::<[u8; 32]>().prop_map(B256::from)
    }

    fn address() -> impl Strategy<Value = Address> {
        any::<[u8; 20]>().prop_map(Address::from)
    }

    /// Mostly empty blooms (as in blocks without logs), sometimes arbitrary ones.
    fn bloom() -> impl Strategy<Value = Bloom> {
        prop_oneof![
            Just(Bloom::ZERO),
            prop::collection::vec(any::<u8>(), 256).prop_map(|v| Bloom::from_slice(&v)),
        ]
    }

    fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
        prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
    }

    fn log() -> impl Strategy<Value = Log> {
        (address(), prop::collection::vec(b256(), 0..=4), bytes(80)).prop_map(
            |(address, topics, data)| Log {
                address,
                data: LogData::new(topics, data).expect("at most 4 topics"),
            },
        )
    }

    fn block() -> impl Strategy<Value = BlockRecord> {
        (
            (any::<u64>(), b256(), b256(), any::<u64>(), address()),
            (any::<u64>(), any::<u64>(), any::<u64>(), b256(), b256()),
            (
                bloom(),
                b256(),
                prop::collection::vec(b256(), 0..6),
                prop::collection::vec((any::<u128>(), any::<u64>()), 0..6),
            ),
        )
            .prop_map(
                |(
                    (number, hash, parent_hash, timestamp, builder),
                    (base_fee, gas_limit, gas_used, tx_root, receipts_root),
                    (logs_bloom, state_root, tx_hashes, tx_fees),
                )| BlockRecord {
                    number,
                    hash,
                    parent_hash,
                    timestamp,
                    builder,
                    base_fee,
                    gas_limit,
                    gas_used,
                    tx_root,
                    receipts_root,
                    logs_bloom,
                    state_root,
                    tx_hashes,
                    tx_fees,
                },
            )
    }

    fn tx() -> impl Strategy<Value = TxRecord> {
        (
            (b256(), address(), bytes(200), any::<u64>(), b256()),
            (any::<u64>(), any::<u32>(), any::<u64>()),
            (
                any::<bool>(),
                any::<u64>(),
                any::<u64>(),
                any::<u128>(),
                proptest::option::of(address()),
                prop::collection::vec(log(), 0..4),
                bloom(),
            ),
        )
            .prop_map(
                |(
                    (hash, from, raw, block_number, block_hash),
                    (block_timestamp, index, first_log_index),
                    (success, gas_used, cumulative_gas_used, price, contract_address, logs, bloom),
                )| TxRecord {
                    hash,
                    from,
                    raw,
                    block_number,
                    block_hash,
                    block_timestamp,
                    index,
                    first_log_index,
                    receipt: RecordReceipt {
                        success,
                        gas_used,
                        cumulative_gas_used,
                        effective_gas_price: price,
                        contract_address,
                        logs,
                        logs_bloom: bloom,
                    },
                },
            )
    }

    /// Decodes `bytes` as both record kinds: each either refuses them or accepts them as a
    /// value whose encoding is exactly `bytes` (one value, one encoding).
    fn decodes_exactly_or_refuses(bytes: &[u8]) -> Result<(), TestCaseError> {
        if let Ok(b) = BlockRecord::decode(bytes) {
            prop_assert_eq!(b.encode(), bytes);
        }
        if let Ok(t) = TxRecord::decode(bytes) {
            prop_assert_eq!(t.encode(), bytes);
        }
        Ok(())
    }

    /// Every strict prefix of a valid encoding is refused (the decoder reads front to back and
    /// every field has a fixed or declared size, so a record never ends early).
    fn prefixes_are_refused<T: std::fmt::Debug>(
        bytes: &[u8],
        decode: impl Fn(&[u8]) -> RecordResult<T>,
    ) -> Result<(), TestCaseError> {
        for n in 0..bytes.len() {
            let e = decode(&bytes[..n]);
            prop_assert!(
                matches!(
                    e,
                    Err(RecordError::Truncated { .. } | RecordError::Length { .. })
                ),
                "prefix of {} bytes: {:?}",
                n,
                e
            );
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn block_records_roundtrip(b in block()) {
            let bytes = b.encode();
            prop_assert_eq!(bytes[0], RECORD_VERSION);
            prop_assert_eq!(BlockRecord::decode(&bytes), Ok(b));
            prefixes_are_refused(&bytes, BlockRecord::decode)?;
            let mut trailing = bytes.clone();
            trailing.push(0);
            prop_assert_eq!(
                BlockRecord::decode(&trailing),
                Err(RecordError::Trailing { what: "block record", extra: 1 })
            );
        }

        #[test]
        fn tx_records_roundtrip(t in tx()) {
            let bytes = t.encode();
            prop_assert_eq!(bytes[0], RECORD_VERSION);
            prop_assert_eq!(TxRecord::decode(&bytes), Ok(t));
            prefixes_are_refused(&bytes, TxRecord::decode)?;
            let mut trailing = bytes.clone();
            trailing.extend_from_slice(&[1, 2]);
            prop_assert_eq!(
                TxRecord::decode(&trailing),
                Err(RecordError::Trailing { what: "tx record", extra: 2 })
            );
        }

        /// Arbitrary bytes never panic the decoders; what they accept re-encodes to the input.
        #[test]
        fn arbitrary_bytes_are_refused_or_exact(bytes in prop::collection::vec(any::<u8>(), 0..700)) {
            decodes_exactly_or_refuses(&bytes)?;
            // The same bytes behind a valid version byte, to get past the first check.
            let mut versioned = vec![RECORD_VERSION];
            versioned.extend_from_slice(&bytes);
            decodes_exactly_or_refuses(&versioned)?;
        }

        /// Valid encodings with one byte changed, inserted or removed: refused or exact.
        #[test]
        fn mutated_records_are_refused_or_exact(
            b in block(),
            t in tx(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            for bytes in [b.encode(), t.encode()] {
                let i = at.index(bytes.len());
                let mut changed = bytes.clone();
                changed[i] = byte;
                decodes_exactly_or_refuses(&changed)?;
                let mut inserted = bytes.clone();
                inserted.insert(i, byte);
                decodes_exactly_or_refuses(&inserted)?;
                let mut removed = bytes.clone();
                removed.remove(i);
                decodes_exactly_or_refuses(&removed)?;
            }
        }
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let t = TxRecord {
            hash: B256::repeat_byte(1),
            from: Address::repeat_byte(2),
            raw: Bytes::from_static(&[3, 4]),
            block_number: 5,
            block_hash: B256::repeat_byte(6),
            block_timestamp: 7,
            index: 8,
            first_log_index: 9,
            receipt: RecordReceipt {
                success: true,
                gas_used: 10,
                cumulative_gas_used: 11,
                effective_gas_price: 12,
                contract_address: None,
                logs: vec![Log {
                    address: Address::repeat_byte(13),
                    data: LogData::new_unchecked(vec![B256::repeat_byte(14)], Bytes::new()),
                }],
                logs_bloom: Bloom::ZERO,
            },
        };
        let bytes = t.encode();
        assert_eq!(TxRecord::decode(&bytes), Ok(t));
        assert_eq!(
            TxRecord::decode(&[]),
            Err(RecordError::Truncated {
                what: "tx record",
                needed: 1,
                left: 0
            })
        );
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert_eq!(
            TxRecord::decode(&v2),
            Err(RecordError::Version {
                what: "tx record",
                got: 2
            })
        );
        // The raw-bytes length (after version, hash, sender) claiming more than is left.
        let mut long = bytes.clone();
        long[53..57].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            TxRecord::decode(&long),
            Err(RecordError::Length {
                what: "tx bytes",
                count: u32::MAX,
                ..
            })
        ));
        // The success flag (after the fixed fields) set to 2.
        let mut flag = bytes.clone();
        let at = 1 + 32 + 20 + 4 + 2 + 8 + 32 + 8 + 4 + 8;
        assert_eq!(flag[at], 1);
        flag[at] = 2;
        assert_eq!(
            TxRecord::decode(&flag),
            Err(RecordError::Invalid {
                what: "receipt success",
                byte: 2
            })
        );
        // A log with five topics.
        let mut topics = bytes.clone();
        let at = at + 1 + 8 + 8 + 16 + 1 + 256 + 4 + 20;
        assert_eq!(topics[at], 1);
        topics[at] = 5;
        assert_eq!(
            TxRecord::decode(&topics),
            Err(RecordError::Invalid {
                what: "log topic count",
                byte: 5
            })
        );
    }
}
