//! The seeded generator: blocks of dependent, always-valid transactions over the script
//! contracts of [`super::asm`].

use alloy_consensus::{SignableTransaction, TxEip1559, TxEip2930, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use parley_app::devtx::{self, Fees, Kind};

use super::asm::{self, REC, sop, stub};

/// splitmix64.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `pct` %.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    pub fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize].clone()
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    pub fn word(&mut self) -> U256 {
        U256::from_limbs([self.next(), self.next(), self.next(), self.next()])
    }

    pub fn b256(&mut self) -> B256 {
        B256::from(self.word())
    }

    pub fn address(&mut self) -> Address {
        Address::from_slice(&self.bytes(20))
    }
}

/// Chain id of both chains.
pub const CHAIN_ID: u64 = 424_242;
/// Gas limit of a scripted transaction.
const SCRIPT_GAS: u64 = 1_500_000;
/// Storage slots scripts use (small, so transactions of one block meet on them).
const SLOTS: [u64; 9] = [0, 1, 2, 3, 4, 5, 6, 0x77, asm::LAST];

/// One signed transaction of a generated block.
#[derive(Debug, Clone)]
pub struct GenTx {
    pub raw: Bytes,
    pub hash: B256,
    pub from: Address,
    /// What it does, for divergence reports.
    pub what: String,
}

/// A generated block: header inputs (the base fee comes from Parley) and its transactions.
#[derive(Debug, Clone)]
pub struct GenBlock {
    pub number: u64,
    pub timestamp: u64,
    pub coinbase: Address,
    pub txs: Vec<GenTx>,
}

/// What a transaction will do, before a nonce is assigned.
struct Intent {
    sender: usize,
    to: Option<Address>,
    value: U256,
    data: Vec<u8>,
    gas: u64,
    what: String,
}

/// The generator's view of the world (addresses only; it never models execution).
pub struct Gen {
    pub rng: Rng,
    pub keys: Vec<PrivateKeySigner>,
    nonces: Vec<u64>,
    pub runtime: Vec<u8>,
    /// The three script contracts deployed in block 1.
    pub main: [Address; 3],
    /// Predicted CREATE2 children (the latest [`KEEP`]).
    children: Vec<Address>,
    /// Addresses that got value out of nowhere (the latest [`KEEP`]).
    fresh: Vec<Address>,
    coinbases: Vec<Address>,
    timestamp: u64,
    number: u64,
    /// Last fresh CREATE2 salt.
    salts: u64,
    /// The next block is the first: it deploys the script contracts.
    first: bool,
    /// `BLOCKHASH(a1)` of a "future" block asks for `number + future + 0..5`: 0 in-process
    /// (the block number is known); on a localnet a batch may land blocks after `number`.
    pub future: u64,
}

/// How many recent children and fresh addresses the generator remembers as targets.
const KEEP: usize = 256;

/// Remembers `a` in `list`, forgetting the oldest beyond [`KEEP`].
fn remember(list: &mut Vec<Address>, a: Address) {
    if !list.contains(&a) {
        if list.len() == KEEP {
            list.remove(0);
        }
        list.push(a);
    }
}

/// A script's operations, for reports: `SSTORE, CALL 0x..[READLOG], CREATE2 ...`.
pub fn describe(script: &[u8]) -> String {
    let mut out = Vec::new();
    let mut p = 0;
    while p + REC <= script.len() {
        let op = script[p];
        let word = |i: usize| U256::from_be_slice(&script[p + 1 + 32 * i..p + 33 + 32 * i]);
        let name = match op {
            sop::SSTORE => format!("SSTORE {:#x}", word(0)),
            sop::COPY => format!("COPY {:#x}->{:#x}", word(0), word(1)),
            sop::READLOG => format!("READLOG {:#x}", word(0)),
            sop::TSTORE => "TSTORE".into(),
            sop::TLOAD => "TLOAD".into(),
            sop::CREATE2 => format!("CREATE2 salt {:#x}", word(0)),
            sop::CREATE => "CREATE".into(),
            sop::REVERT => "REVERT".into(),
            sop::OOG => "OOG".into(),
            sop::INVALID => "INVALID".into(),
            sop::SELFDESTRUCT => "SELFDESTRUCT".into(),
            sop::TRANSFER => "TRANSFER".into(),
            sop::ENV => "ENV".into(),
            sop::BLOCKHASH => "BLOCKHASH".into(),
            sop::ADD => format!("ADD {:#x}", word(0)),
            o if (sop::LOG0..=sop::LOG0 + 4).contains(&o) => format!("LOG{}", o - sop::LOG0),
            sop::CALL | sop::DELEGATECALL | sop::STATICCALL => {
                let kind = ["CALL", "DELEGATECALL", "STATICCALL"][usize::from(op - sop::CALL)];
                let to = Address::from_slice(&script[p + 13..p + 33]);
                let len = (word(2) & U256::from(0xffff_ffffu64)).to::<usize>();
                let tail = &script[(p + REC).min(script.len())..(p + REC + len).min(script.len())];
                let inner = if to.as_slice()[..19].iter().all(|b| *b == 0) && to != Address::ZERO {
                    format!("precompile {}", to.as_slice()[19])
                } else {
                    format!("{to} [{}]", describe(tail))
                };
                p += len;
                format!("{kind} {inner}")
            }
            other => format!("?{other:#x}"),
        };
        out.push(name);
        p += REC;
    }
    out.join(", ")
}

/// Genesis timestamp of both chains.
pub const T0: u64 = 1_700_000_000;

impl Gen {
    pub fn new(seed: u64, keys: Vec<PrivateKeySigner>) -> Self {
        let n = keys.len();
        Self::with_nonces(seed, keys, vec![0; n])
    }

    /// A generator whose senders start at these nonces (a chain that already ran).
    pub fn with_nonces(seed: u64, keys: Vec<PrivateKeySigner>, nonces: Vec<u64>) -> Self {
        assert_eq!(nonces.len(), keys.len(), "one nonce per key");
        let runtime = asm::runtime();
        let deployer = keys[0].address();
        let main = [0, 1, 2].map(|i| deployer.create(nonces[0] + i));
        let coinbases = vec![
            Address::repeat_byte(0xcb),
            Address::repeat_byte(0xcb),
            Address::repeat_byte(0xcb),
            Address::repeat_byte(0xcc),
            keys[1].address(),
            main[2],
        ];
        Self {
            rng: Rng::new(seed),
            keys,
            nonces,
            runtime,
            main,
            children: Vec::new(),
            fresh: Vec::new(),
            coinbases,
            timestamp: T0,
            number: 0,
            salts: 1 << 32,
            first: true,
            future: 0,
        }
    }

    /// The next [`Gen::block`] is for block `n` (or a later one, on a localnet).
    pub fn set_number(&mut self, n: u64) {
        assert!(n >= 1, "block numbers start at 1");
        self.number = n - 1;
    }

    /// More block builders, also used as transfer targets.
    pub fn add_coinbases(&mut self, cbs: impl IntoIterator<Item = Address>) {
        for a in cbs {
            if !self.coinbases.contains(&a) {
                self.coinbases.push(a);
            }
        }
    }

    /// Init code for `stub`.
    pub fn init_code(&self, stub: &[u8; 32]) -> Vec<u8> {
        let mut c = stub.to_vec();
        c.extend_from_slice(&self.runtime);
        c
    }

    fn create2_address(&self, factory: Address, salt: U256, stub: &[u8; 32]) -> Address {
        factory.create2(B256::from(salt), keccak256(self.init_code(stub)))
    }

    /// The next block.
    pub fn block(&mut self) -> GenBlock {
        self.number += 1;
        self.timestamp += self.rng.range(1, 12);
        let number = self.number;
        let first = std::mem::replace(&mut self.first, false);
        let coinbase = if first {
            self.coinbases[0]
        } else {
            let cbs = self.coinbases.clone();
            self.rng.pick(&cbs)
        };
        let intents = if first {
            self.deployments()
        } else {
            self.intents(number)
        };
        let txs = intents.into_iter().map(|i| self.sign(i)).collect();
        GenBlock {
            number,
            timestamp: self.timestamp,
            coinbase,
            txs,
        }
    }

    /// The first block: the three script contracts, funded, plus a transfer.
    fn deployments(&mut self) -> Vec<Intent> {
        let mut v: Vec<Intent> = (0..3)
            .map(|i| Intent {
                sender: 0,
                to: None,
                value: U256::from(10u64.pow(18) + i),
                data: self.init_code(&stub::deploy()),
                gas: 2_000_000,
                what: format!("deploy script contract {i}"),
            })
            .collect();
        v.push(Intent {
            sender: 1,
            to: Some(self.main[0]),
            value: U256::from(12_345u64),
            data: vec![],
            gas: 100_000,
            what: "fund contract 0".into(),
        });
        v
    }

    fn intents(&mut self, number: u64) -> Vec<Intent> {
        let mut out: Vec<Intent> = Vec::new();
        if self.rng.pct(3) {
            return out; // an empty block now and then
        }
        let n = self.rng.range(1, 18);
        // Second halves of templates, appended after a few more transactions.
        let mut later: Vec<(usize, Intent)> = Vec::new();
        for _ in 0..n {
            let roll = self.rng.below(100);
            if roll < 12 {
                let (first, second) = self.template();
                out.push(first);
                let delay = self.rng.below(4) as usize;
                later.push((out.len() + delay, second));
            } else if roll < 22 {
                out.push(self.transfer());
            } else if roll < 27 {
                out.push(self.create_tx());
            } else {
                out.push(self.script_tx(number));
            }
            let now = out.len();
            let (due, rest): (Vec<_>, Vec<_>) = later.into_iter().partition(|(at, _)| *at <= now);
            later = rest;
            out.extend(due.into_iter().map(|(_, i)| i));
        }
        out.extend(later.into_iter().map(|(_, i)| i));
        out
    }

    fn sender(&mut self) -> usize {
        self.rng.below(self.keys.len() as u64) as usize
    }

    fn value(&mut self) -> U256 {
        match self.rng.below(4) {
            0 => U256::ZERO,
            1 => U256::from(self.rng.range(1, 1000)),
            2 => U256::from(self.rng.below(10u64.pow(12))),
            _ => U256::from(self.rng.below(10u64.pow(15))),
        }
    }

    fn slot(&mut self) -> U256 {
        U256::from(self.rng.pick(&SLOTS))
    }

    fn word_value(&mut self) -> U256 {
        match self.rng.below(5) {
            0 => U256::ZERO,
            1 => U256::from(self.rng.range(1, 20)),
            2 => U256::from(self.rng.next()),
            3 => U256::MAX - U256::from(self.rng.below(3)),
            _ => self.rng.word(),
        }
    }

    fn new_fresh(&mut self) -> Address {
        let a = self.rng.address();
        remember(&mut self.fresh, a);
        a
    }

    /// An address that may or may not hold anything.
    fn target(&mut self) -> Address {
        match self.rng.below(10) {
            0..=2 => {
                let m = self.main;
                self.rng.pick(&m)
            }
            3 | 4 if !self.children.is_empty() => {
                let c = self.children.clone();
                self.rng.pick(&c)
            }
            5 if !self.fresh.is_empty() => {
                let f = self.fresh.clone();
                self.rng.pick(&f)
            }
            6 => {
                let k = self.sender();
                self.keys[k].address()
            }
            7 => Address::ZERO, // = sload(LAST) in the script
            8 => {
                let c = self.coinbases.clone();
                self.rng.pick(&c)
            }
            _ => self.new_fresh(),
        }
    }

    /// A CREATE2 child of `factory`: often one of a few salts (addresses repeat: re-creation
    /// after destruction, collisions), otherwise a salt not used before.
    fn child(&mut self, factory: Address) -> (U256, [u8; 32], Address) {
        let salt = if self.rng.pct(30) {
            U256::from(self.rng.below(6))
        } else {
            self.salts += 1;
            U256::from(self.salts)
        };
        let stubs = stub::all();
        let st = if self.rng.pct(60) {
            stubs[0]
        } else {
            self.rng.pick(&stubs)
        };
        let addr = self.create2_address(factory, salt, &st);
        remember(&mut self.children, addr);
        (salt, st, addr)
    }

    /// Encodes one record.
    fn rec(op: u8, a0: U256, a1: U256, a2: U256) -> Vec<u8> {
        let mut r = Vec::with_capacity(REC);
        r.push(op);
        r.extend_from_slice(&a0.to_be_bytes::<32>());
        r.extend_from_slice(&a1.to_be_bytes::<32>());
        r.extend_from_slice(&a2.to_be_bytes::<32>());
        r
    }

    fn addr_word(a: Address) -> U256 {
        U256::from_be_slice(a.as_slice())
    }

    /// A call-family record with its tail.
    fn call_rec(op: u8, to: Address, value: U256, gas: u64, tail: &[u8]) -> Vec<u8> {
        let a2 = (U256::from(gas) << 32) | U256::from(tail.len() as u64);
        let mut r = Self::rec(op, Self::addr_word(to), value, a2);
        r.extend_from_slice(tail);
        r
    }

    /// Input for precompile `p`.
    fn precompile_input(&mut self, p: u8) -> Vec<u8> {
        match p {
            1 => {
                // ecrecover: a real signature (sometimes spoiled).
                let hash = self.rng.b256();
                let k = self.sender();
                let sig = self.keys[k]
                    .sign_hash_sync(&hash)
                    .expect("local signing cannot fail");
                let mut v = [0u8; 32];
                v[31] = 27 + u8::from(sig.v());
                if self.rng.pct(15) {
                    v[31] = 29;
                }
                let mut input = hash.to_vec();
                input.extend_from_slice(&v);
                input.extend_from_slice(&sig.r().to_be_bytes::<32>());
                input.extend_from_slice(&sig.s().to_be_bytes::<32>());
                input
            }
            2..=4 => {
                let n = self.rng.below(120) as usize;
                self.rng.bytes(n)
            }
            5 => {
                // modexp with small operands (sometimes a zero modulus).
                let (bl, el, ml) = (
                    self.rng.range(1, 32) as usize,
                    self.rng.range(1, 8) as usize,
                    self.rng.range(1, 32) as usize,
                );
                let mut input = Vec::new();
                for l in [bl, el, ml] {
                    input.extend_from_slice(&U256::from(l).to_be_bytes::<32>());
                }
                input.extend(self.rng.bytes(bl));
                input.extend(self.rng.bytes(el));
                if self.rng.pct(10) {
                    input.extend(vec![0u8; ml]);
                } else {
                    input.extend(self.rng.bytes(ml));
                }
                input
            }
            6 => {
                // ecAdd(G, G) or garbage.
                let mut input = Vec::new();
                for _ in 0..2 {
                    input.extend_from_slice(&U256::from(1).to_be_bytes::<32>());
                    input.extend_from_slice(&U256::from(2).to_be_bytes::<32>());
                }
                if self.rng.pct(20) {
                    input[63] = 3; // not on the curve
                }
                input
            }
            7 => {
                let mut input = Vec::new();
                input.extend_from_slice(&U256::from(1).to_be_bytes::<32>());
                input.extend_from_slice(&U256::from(2).to_be_bytes::<32>());
                input.extend_from_slice(&self.rng.word().to_be_bytes::<32>());
                input
            }
            8 => Vec::new(), // empty pairing: true
            _ => {
                // blake2f: 12 rounds or fewer, random state.
                let mut input = (self.rng.below(13) as u32).to_be_bytes().to_vec();
                input.extend(self.rng.bytes(208));
                input.push(u8::from(self.rng.pct(50)));
                input
            }
        }
    }

    /// A random script for a frame at `this` (the storage owner), `depth` calls deep.
    fn script(&mut self, this: Address, depth: u32, number: u64) -> Vec<u8> {
        let n = self.rng.range(1, 6);
        let mut s = Vec::new();
        for _ in 0..n {
            let roll = self.rng.below(100);
            let r = match roll {
                0..=13 => {
                    let (slot, v) = (self.slot(), self.word_value());
                    Self::rec(sop::SSTORE, slot, v, U256::ZERO)
                }
                14..=20 => {
                    let (a, b) = (self.slot(), self.slot());
                    Self::rec(sop::COPY, a, b, U256::ZERO)
                }
                21..=29 => {
                    let slot = self.slot();
                    Self::rec(sop::READLOG, slot, U256::ZERO, U256::ZERO)
                }
                30..=33 => {
                    let (slot, v) = (self.slot(), U256::from(self.rng.range(1, 5)));
                    Self::rec(sop::ADD, slot, v, U256::ZERO)
                }
                34..=38 => {
                    let (k, v) = (U256::from(self.rng.below(3)), self.word_value());
                    Self::rec(sop::TSTORE, k, v, U256::ZERO)
                }
                39..=42 => {
                    let (k, slot) = (U256::from(self.rng.below(3)), self.slot());
                    Self::rec(sop::TLOAD, k, slot, U256::ZERO)
                }
                43..=48 => {
                    let (salt, st, _) = self.child(this);
                    let v = if self.rng.pct(50) {
                        U256::ZERO
                    } else {
                        U256::from(self.rng.below(10u64.pow(9)))
                    };
                    Self::rec(sop::CREATE2, salt, v, U256::from_be_bytes(st))
                }
                49..=50 => {
                    let stubs = stub::all();
                    let st = self.rng.pick(&stubs);
                    let v = U256::from(self.rng.below(1000));
                    Self::rec(sop::CREATE, U256::ZERO, v, U256::from_be_bytes(st))
                }
                51..=64 if depth < 2 => {
                    let kind =
                        self.rng
                            .pick(&[sop::CALL, sop::CALL, sop::DELEGATECALL, sop::STATICCALL]);
                    let gas = if self.rng.pct(65) {
                        0
                    } else {
                        self.rng.range(3_000, 120_000)
                    };
                    let value = if kind == sop::CALL && self.rng.pct(40) {
                        U256::from(self.rng.below(10u64.pow(9)))
                    } else {
                        U256::ZERO
                    };
                    if self.rng.pct(20) {
                        let p = self.rng.range(1, 9) as u8;
                        let input = self.precompile_input(p);
                        Self::call_rec(kind, Address::with_last_byte(p), value, 0, &input)
                    } else {
                        let to = if self.rng.pct(25) {
                            this
                        } else {
                            self.target()
                        };
                        let callee_storage = if kind == sop::DELEGATECALL { this } else { to };
                        let inner = self.script(callee_storage, depth + 1, number);
                        Self::call_rec(kind, to, value, gas, &inner)
                    }
                }
                65..=67 => Self::rec(sop::REVERT, self.rng.word(), U256::ZERO, U256::ZERO),
                68..=69 => Self::rec(sop::OOG, U256::ZERO, U256::ZERO, U256::ZERO),
                70 => Self::rec(sop::INVALID, U256::ZERO, U256::ZERO, U256::ZERO),
                71..=72 => {
                    let b = if self.rng.pct(20) {
                        this
                    } else {
                        self.target()
                    };
                    Self::rec(
                        sop::SELFDESTRUCT,
                        Self::addr_word(b),
                        U256::ZERO,
                        U256::ZERO,
                    )
                }
                73..=78 => {
                    let (to, v) = (self.target(), self.value());
                    Self::rec(
                        sop::TRANSFER,
                        Self::addr_word(to),
                        v / U256::from(100),
                        U256::ZERO,
                    )
                }
                79..=86 => {
                    let n = self.rng.below(5) as u8;
                    let (len, t, d) = (
                        U256::from(self.rng.below(64)),
                        self.rng.word(),
                        self.rng.word(),
                    );
                    Self::rec(sop::LOG0 + n, len, t, d)
                }
                87..=91 => {
                    let base = U256::from(0x100 + 0x20 * self.rng.below(4));
                    let who = self.target();
                    Self::rec(sop::ENV, base, Self::addr_word(who), U256::ZERO)
                }
                92..=95 if number >= 2 => {
                    // BLOCKHASH(number - 1) is non-zero on both chains from block 2 on (Parley's
                    // genesis hash is zero, anvil's is not: SSTORE gas would differ at 1).
                    // Outside the 256-block window: zero on both chains. On a localnet `number`
                    // is a lower bound of the block the transaction lands in, so "far back"
                    // stays out of the window and "ahead" gets the `future` margin.
                    let back = 257 + self.rng.below(5);
                    let far = if number > back && self.rng.pct(50) {
                        U256::from(number - back)
                    } else {
                        U256::from(number + self.future + self.rng.below(5))
                    };
                    Self::rec(sop::BLOCKHASH, U256::ZERO, far, U256::ZERO)
                }
                _ => {
                    let slot = self.slot();
                    Self::rec(sop::READLOG, slot, U256::ZERO, U256::ZERO)
                }
            };
            s.extend(r);
        }
        s
    }

    fn script_tx(&mut self, number: u64) -> Intent {
        let to = if self.rng.pct(80) || self.children.is_empty() {
            let m = self.main;
            self.rng.pick(&m)
        } else {
            let c = self.children.clone();
            self.rng.pick(&c)
        };
        let data = self.script(to, 0, number);
        let data_desc = data.clone();
        let value = if self.rng.pct(30) {
            self.value()
        } else {
            U256::ZERO
        };
        let gas = if self.rng.pct(8) {
            0 // intrinsic plus a little: runs out of gas part-way
        } else {
            SCRIPT_GAS
        };
        Intent {
            sender: self.sender(),
            to: Some(to),
            value,
            data,
            gas,
            what: format!(
                "script call to {} {to}: {}",
                self.kind_of(to),
                describe(&data_desc)
            ),
        }
    }

    fn transfer(&mut self) -> Intent {
        let to = self.target();
        let to = if to == Address::ZERO {
            self.new_fresh()
        } else {
            to
        };
        let to = if self.rng.pct(5) {
            Address::with_last_byte(self.rng.range(1, 9) as u8)
        } else {
            to
        };
        let value = self.value();
        Intent {
            sender: self.sender(),
            to: Some(to),
            value,
            data: vec![],
            gas: if self.rng.pct(50) { 21_000 } else { 60_000 },
            what: format!("transfer of {value} to {} {to}", self.kind_of(to)),
        }
    }

    /// What the generator knows `a` to be, for reports.
    fn kind_of(&self, a: Address) -> &'static str {
        if self.main.contains(&a) {
            "script contract"
        } else if self.children.contains(&a) {
            "CREATE2 child"
        } else if self.keys.iter().any(|k| k.address() == a) {
            "sender"
        } else if self.coinbases.contains(&a) {
            "coinbase"
        } else if a.as_slice()[..19].iter().all(|b| *b == 0) {
            "precompile"
        } else {
            "fresh address"
        }
    }

    fn create_tx(&mut self) -> Intent {
        let stubs = stub::all();
        let st = if self.rng.pct(50) {
            stubs[0]
        } else {
            self.rng.pick(&stubs)
        };
        Intent {
            sender: self.sender(),
            to: None,
            value: self.value(),
            data: self.init_code(&st),
            gas: 2_000_000,
            what: format!("create tx, constructor {}", stub::name(&st)),
        }
    }

    /// Pairs of transactions where the second depends on the first within one block.
    fn template(&mut self) -> (Intent, Intent) {
        let m = self.main;
        let c = self.rng.pick(&m);
        let (s1, s2) = (self.sender(), self.sender());
        let call = |data: Vec<u8>, sender: usize, to: Address, what: String| Intent {
            sender,
            to: Some(to),
            value: U256::ZERO,
            data,
            gas: SCRIPT_GAS,
            what,
        };
        match self.rng.below(6) {
            0 => {
                // tx1 writes a slot; tx2 only reads it (logs it).
                let (slot, v) = (self.slot(), self.rng.word());
                (
                    call(
                        Self::rec(sop::SSTORE, slot, v, U256::ZERO),
                        s1,
                        c,
                        format!("write {c} slot {slot}"),
                    ),
                    call(
                        Self::rec(sop::READLOG, slot, U256::ZERO, U256::ZERO),
                        s2,
                        c,
                        format!("only read {c} slot {slot}"),
                    ),
                )
            }
            1 => {
                // tx1 writes a slot; tx2 copies it to another contract through a call.
                let (slot, v) = (self.slot(), self.rng.word());
                let d = self.rng.pick(&m);
                let inner = Self::rec(sop::SSTORE, U256::from(9), v, U256::ZERO);
                let mut script = Self::rec(sop::COPY, slot, U256::from(8), U256::ZERO);
                script.extend(Self::rec(sop::READLOG, slot, U256::ZERO, U256::ZERO));
                script.extend(Self::call_rec(sop::CALL, d, U256::ZERO, 0, &inner));
                (
                    call(
                        Self::rec(sop::SSTORE, slot, v, U256::ZERO),
                        s1,
                        c,
                        format!("write {c} slot {slot}"),
                    ),
                    call(script, s2, c, format!("copy {c} slot {slot}")),
                )
            }
            2 => {
                // CREATE2 and self-destruct in one tx, then a transfer to the dead address.
                let (salt, st, child) = self.child(c);
                let mut script = Self::rec(
                    sop::CREATE2,
                    salt,
                    U256::from(777u64),
                    U256::from_be_bytes(st),
                );
                let ben = self.target();
                let kill = Self::rec(
                    sop::SELFDESTRUCT,
                    Self::addr_word(ben),
                    U256::ZERO,
                    U256::ZERO,
                );
                script.extend(Self::call_rec(sop::CALL, child, U256::from(5u64), 0, &kill));
                let value = self.value() + U256::from(1u64);
                (
                    call(
                        script,
                        s1,
                        c,
                        format!(
                            "create2 {child} (constructor {}) and destroy it",
                            stub::name(&st)
                        ),
                    ),
                    Intent {
                        sender: s2,
                        to: Some(child),
                        value,
                        data: vec![],
                        gas: 30_000,
                        what: format!("transfer {value} to destroyed {child}"),
                    },
                )
            }
            3 => {
                // CREATE2 in tx1; SELFDESTRUCT in tx2 (EIP-6780: only the balance moves).
                let (salt, _, _) = self.child(c);
                let st = stub::deploy();
                let child = self.create2_address(c, salt, &st);
                remember(&mut self.children, child);
                let mut script = Self::rec(
                    sop::CREATE2,
                    salt,
                    U256::from(999u64),
                    U256::from_be_bytes(st),
                );
                script.extend(Self::call_rec(
                    sop::CALL,
                    child,
                    U256::ZERO,
                    0,
                    &Self::rec(sop::SSTORE, U256::from(1u64), U256::from(42u64), U256::ZERO),
                ));
                let ben = self.target();
                let mut kill = Self::rec(sop::READLOG, U256::from(1u64), U256::ZERO, U256::ZERO);
                kill.extend(Self::rec(
                    sop::SELFDESTRUCT,
                    Self::addr_word(ben),
                    U256::ZERO,
                    U256::ZERO,
                ));
                (
                    call(script, s1, c, format!("create2 {child}")),
                    call(
                        kill,
                        s2,
                        child,
                        format!("self-destruct {child} in a later tx"),
                    ),
                )
            }
            4 => {
                // Transient storage: visible across a re-entrant call, gone in the next tx.
                let (k, v) = (
                    U256::from(self.rng.below(3)),
                    self.rng.word() | U256::from(1),
                );
                let mut script = Self::rec(sop::TSTORE, k, v, U256::ZERO);
                script.extend(Self::call_rec(
                    sop::CALL,
                    c,
                    U256::ZERO,
                    0,
                    &Self::rec(sop::TLOAD, k, U256::from(5u64), U256::ZERO),
                ));
                script.extend(Self::rec(sop::TLOAD, k, U256::from(6u64), U256::ZERO));
                (
                    call(script, s1, c, format!("tstore {c}")),
                    call(
                        Self::rec(sop::TLOAD, k, U256::from(5u64), U256::ZERO),
                        s2,
                        c,
                        format!("tload {c} in the next tx"),
                    ),
                )
            }
            _ => {
                // A nested call that writes and then fails; the outer frame reads afterwards.
                let slot = self.slot();
                let mut inner = Self::rec(sop::SSTORE, slot, U256::from(0xdeadu64), U256::ZERO);
                let fail = self.rng.pick(&[sop::REVERT, sop::OOG, sop::INVALID]);
                inner.extend(Self::rec(fail, U256::from(1u64), U256::ZERO, U256::ZERO));
                let gas = if fail == sop::OOG { 60_000 } else { 0 };
                let mut script = Self::call_rec(sop::CALL, c, U256::ZERO, gas, &inner);
                script.extend(Self::rec(sop::READLOG, slot, U256::ZERO, U256::ZERO));
                (
                    call(
                        Self::rec(sop::SSTORE, slot, U256::from(7u64), U256::ZERO),
                        s1,
                        c,
                        format!("write {c} slot {slot}"),
                    ),
                    call(
                        script,
                        s2,
                        c,
                        format!("failing nested write of {c} slot {slot}"),
                    ),
                )
            }
        }
    }

    /// Intrinsic gas with the EIP-7623 floor.
    fn intrinsic(to: Option<Address>, data: &[u8], list: &AccessList) -> u64 {
        let zeros = data.iter().filter(|b| **b == 0).count() as u64;
        let nonzeros = data.len() as u64 - zeros;
        let tokens = zeros + 4 * nonzeros;
        let mut g = 21_000 + 4 * tokens;
        if to.is_none() {
            g += 32_000 + 2 * (data.len() as u64).div_ceil(32);
        }
        for item in &list.0 {
            g += 2_400 + 1_900 * item.storage_keys.len() as u64;
        }
        g.max(21_000 + 10 * tokens)
    }

    fn access_list(&mut self) -> AccessList {
        let n = self.rng.range(1, 3);
        let items = (0..n)
            .map(|_| {
                let address = if self.rng.pct(20) {
                    Address::with_last_byte(self.rng.range(1, 9) as u8)
                } else {
                    self.target()
                };
                let k = self.rng.below(3);
                let storage_keys = (0..k).map(|_| B256::from(self.slot())).collect();
                AccessListItem {
                    address,
                    storage_keys,
                }
            })
            .collect();
        AccessList(items)
    }

    fn sign(&mut self, i: Intent) -> GenTx {
        let nonce = self.nonces[i.sender];
        self.nonces[i.sender] += 1;
        let key = self.keys[i.sender].clone();
        let kind = self.rng.below(5);
        let list = if kind >= 3 {
            self.access_list()
        } else {
            AccessList::default()
        };
        let min = Self::intrinsic(i.to, &i.data, &list);
        let gas = if i.gas == 0 {
            min + self.rng.below(40_000)
        } else {
            i.gas.max(min)
        };
        let fees = Fees {
            max_fee: self
                .rng
                .pick(&[10_000_000_000u128, 3_000_000_000, 1_500_000_000]),
            tip: self
                .rng
                .pick(&[0u128, 1, 1_000_000, 1_000_000_000, 1_500_000_000]),
        };
        let data = Bytes::from(i.data);
        let (raw, kname) = match kind {
            0 => (
                devtx::sign(
                    &key,
                    Kind::Legacy,
                    CHAIN_ID,
                    nonce,
                    i.to,
                    i.value,
                    data,
                    gas,
                    fees,
                ),
                "legacy",
            ),
            1 => (
                devtx::sign(
                    &key,
                    Kind::AccessList,
                    CHAIN_ID,
                    nonce,
                    i.to,
                    i.value,
                    data,
                    gas,
                    fees,
                ),
                "2930",
            ),
            2 => (
                devtx::sign(
                    &key,
                    Kind::DynamicFee,
                    CHAIN_ID,
                    nonce,
                    i.to,
                    i.value,
                    data,
                    gas,
                    fees,
                ),
                "1559",
            ),
            3 => {
                let tx = TxEip2930 {
                    chain_id: CHAIN_ID,
                    nonce,
                    gas_price: fees.max_fee,
                    gas_limit: gas,
                    to: i.to.map_or(TxKind::Create, TxKind::Call),
                    value: i.value,
                    input: data,
                    access_list: list,
                };
                (signed(&key, tx), "2930+list")
            }
            _ => {
                let tx = TxEip1559 {
                    chain_id: CHAIN_ID,
                    nonce,
                    gas_limit: gas,
                    max_fee_per_gas: fees.max_fee,
                    max_priority_fee_per_gas: fees.tip,
                    to: i.to.map_or(TxKind::Create, TxKind::Call),
                    value: i.value,
                    access_list: list,
                    input: data,
                };
                (signed(&key, tx), "1559+list")
            }
        };
        GenTx {
            hash: keccak256(&raw),
            raw,
            from: key.address(),
            what: format!("{kname} nonce {nonce} gas {gas}: {}", i.what),
        }
    }
}

fn signed<T: SignableTransaction<alloy_primitives::Signature>>(
    key: &PrivateKeySigner,
    tx: T,
) -> Bytes
where
    TxEnvelope: From<alloy_consensus::Signed<T>>,
{
    let sig = key
        .sign_hash_sync(&tx.signature_hash())
        .expect("local signing cannot fail");
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into()
}
