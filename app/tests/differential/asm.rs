//! A tiny EVM assembler (opcodes, PUSH with automatic width, labels that emit a JUMPDEST and
//! resolve to PUSH2) and the one contract every test account runs: the "script" interpreter.
//!
//! The interpreter reads its calldata as a list of 97-byte records `op ‖ a0 ‖ a1 ‖ a2` (three
//! 32-byte words) and executes them in order; the call-family records carry an extra tail of
//! `a2 & 0xffff_ffff` bytes (the callee's calldata). Contracts it creates run the same code, so
//! every child can script, create, call and self-destruct in turn.

use std::collections::BTreeMap;

use alloy_primitives::U256;

/// Opcodes used here.
#[allow(dead_code)]
pub mod op {
    pub const STOP: u8 = 0x00;
    pub const ADD: u8 = 0x01;
    pub const MUL: u8 = 0x02;
    pub const SUB: u8 = 0x03;
    pub const LT: u8 = 0x10;
    pub const EQ: u8 = 0x14;
    pub const ISZERO: u8 = 0x15;
    pub const AND: u8 = 0x16;
    pub const SHR: u8 = 0x1c;
    pub const ADDRESS: u8 = 0x30;
    pub const BALANCE: u8 = 0x31;
    pub const ORIGIN: u8 = 0x32;
    pub const CALLER: u8 = 0x33;
    pub const CALLVALUE: u8 = 0x34;
    pub const CALLDATALOAD: u8 = 0x35;
    pub const CALLDATASIZE: u8 = 0x36;
    pub const CALLDATACOPY: u8 = 0x37;
    pub const CODESIZE: u8 = 0x38;
    pub const CODECOPY: u8 = 0x39;
    pub const GASPRICE: u8 = 0x3a;
    pub const EXTCODESIZE: u8 = 0x3b;
    pub const RETURNDATASIZE: u8 = 0x3d;
    pub const RETURNDATACOPY: u8 = 0x3e;
    pub const EXTCODEHASH: u8 = 0x3f;
    pub const BLOCKHASH: u8 = 0x40;
    pub const COINBASE: u8 = 0x41;
    pub const TIMESTAMP: u8 = 0x42;
    pub const NUMBER: u8 = 0x43;
    // 0x44 PREVRANDAO is deliberately never used: anvil 1.7.1 cannot set it.
    pub const GASLIMIT: u8 = 0x45;
    pub const CHAINID: u8 = 0x46;
    pub const SELFBALANCE: u8 = 0x47;
    pub const BASEFEE: u8 = 0x48;
    pub const BLOBHASH: u8 = 0x49;
    pub const POP: u8 = 0x50;
    pub const MSTORE: u8 = 0x52;
    pub const SLOAD: u8 = 0x54;
    pub const SSTORE: u8 = 0x55;
    pub const JUMP: u8 = 0x56;
    pub const JUMPI: u8 = 0x57;
    pub const MSIZE: u8 = 0x59;
    pub const GAS: u8 = 0x5a;
    pub const JUMPDEST: u8 = 0x5b;
    pub const TLOAD: u8 = 0x5c;
    pub const TSTORE: u8 = 0x5d;
    pub const PUSH0: u8 = 0x5f;
    pub const PUSH1: u8 = 0x60;
    pub const PUSH2: u8 = 0x61;
    pub const DUP1: u8 = 0x80;
    pub const SWAP1: u8 = 0x90;
    pub const LOG0: u8 = 0xa0;
    pub const CREATE: u8 = 0xf0;
    pub const CALL: u8 = 0xf1;
    pub const RETURN: u8 = 0xf3;
    pub const DELEGATECALL: u8 = 0xf4;
    pub const CREATE2: u8 = 0xf5;
    pub const STATICCALL: u8 = 0xfa;
    pub const REVERT: u8 = 0xfd;
    pub const INVALID: u8 = 0xfe;
    pub const SELFDESTRUCT: u8 = 0xff;

    /// `DUPn` (1..=16).
    pub const fn dup(n: u8) -> u8 {
        DUP1 + n - 1
    }
}

/// The assembler.
#[derive(Default)]
pub struct Asm {
    code: Vec<u8>,
    labels: BTreeMap<String, usize>,
    refs: Vec<(usize, String)>,
    fresh: usize,
}

impl Asm {
    /// Raw opcodes.
    pub fn ops(&mut self, ops: &[u8]) -> &mut Self {
        self.code.extend_from_slice(ops);
        self
    }

    /// PUSH of `v` with the smallest width (PUSH0 for zero).
    pub fn push(&mut self, v: U256) -> &mut Self {
        if v.is_zero() {
            self.code.push(op::PUSH0);
            return self;
        }
        let bytes = v.to_be_bytes::<32>();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let n = 32 - skip;
        self.code.push(op::PUSH1 + (n as u8) - 1);
        self.code.extend_from_slice(&bytes[skip..]);
        self
    }

    /// PUSH of a small constant.
    pub fn pushn(&mut self, v: u64) -> &mut Self {
        self.push(U256::from(v))
    }

    /// PUSH2 of a label's offset (resolved in [`Asm::finish`]).
    pub fn push_label(&mut self, l: &str) -> &mut Self {
        self.code.push(op::PUSH2);
        self.refs.push((self.code.len(), l.to_string()));
        self.code.extend_from_slice(&[0, 0]);
        self
    }

    /// Defines `l` here and emits its JUMPDEST.
    pub fn label(&mut self, l: &str) -> &mut Self {
        let prev = self.labels.insert(l.to_string(), self.code.len());
        assert!(prev.is_none(), "label {l} defined twice");
        self.code.push(op::JUMPDEST);
        self
    }

    /// A label name not used before.
    pub fn fresh(&mut self, prefix: &str) -> String {
        self.fresh += 1;
        format!("{prefix}#{}", self.fresh)
    }

    /// `PUSH2 l; JUMP`.
    pub fn jump(&mut self, l: &str) -> &mut Self {
        self.push_label(l).ops(&[op::JUMP])
    }

    /// `PUSH2 l; JUMPI`.
    pub fn jumpi(&mut self, l: &str) -> &mut Self {
        self.push_label(l).ops(&[op::JUMPI])
    }

    /// The code with every label reference resolved.
    pub fn finish(mut self) -> Vec<u8> {
        for (at, l) in &self.refs {
            let target = *self
                .labels
                .get(l)
                .unwrap_or_else(|| panic!("undefined label {l}"));
            let t = u16::try_from(target).expect("code fits PUSH2");
            self.code[*at..*at + 2].copy_from_slice(&t.to_be_bytes());
        }
        self.code
    }
}

/// Script operations (the first byte of a record).
pub mod sop {
    /// `sstore(a0, a1)`.
    pub const SSTORE: u8 = 0x01;
    /// `sstore(a1, sload(a0))`: reads a slot, writes another.
    pub const COPY: u8 = 0x02;
    /// `v = sload(a0); log2(v; topics a0, v)`: only reads.
    pub const READLOG: u8 = 0x03;
    /// `tstore(a0, a1)`.
    pub const TSTORE: u8 = 0x04;
    /// `v = tload(a0); sstore(a1, v); log1(topic v)`.
    pub const TLOAD: u8 = 0x05;
    /// `create2(value a1, init = a2 (32-byte stub) ‖ own code, salt a0)`; address to
    /// [`LAST`] and logged.
    pub const CREATE2: u8 = 0x06;
    /// `create(value a1, init = a2 ‖ own code)`; address to [`LAST`] and logged.
    pub const CREATE: u8 = 0x07;
    /// `call(gas a2>>32 (0: all), to a0 (0: sload(LAST)), value a1, tail)`; success+1 to
    /// slot `RESULT + p`, logged with the return data.
    pub const CALL: u8 = 0x08;
    /// As CALL, no value.
    pub const DELEGATECALL: u8 = 0x09;
    /// As CALL, no value.
    pub const STATICCALL: u8 = 0x0a;
    /// `revert(a0 as 32 bytes)`.
    pub const REVERT: u8 = 0x0b;
    /// Loops until out of gas.
    pub const OOG: u8 = 0x0c;
    /// The INVALID opcode.
    pub const INVALID: u8 = 0x0d;
    /// `selfdestruct(a0)`.
    pub const SELFDESTRUCT: u8 = 0x0e;
    /// `call(gas 0, to a0 (0: sload(LAST)), value a1)`, success logged.
    pub const TRANSFER: u8 = 0x0f;
    /// `LOGn` for n = op - LOG0: data = a2 (first `a0 & 63` bytes of it, zero padded),
    /// topics a1, a1+1, ...
    pub const LOG0: u8 = 0x10;
    /// Environment values (timestamp, number, coinbase, base fee, ..., balance/extcodehash/
    /// extcodesize of a1, gas left) to slots a0, a0+1, ...
    pub const ENV: u8 = 0x15;
    /// `sstore(BH_BASE + number - 1, blockhash(number - 1))`; logs blockhash(number) and
    /// blockhash(a1), both zero by the generator's choice of a1.
    pub const BLOCKHASH: u8 = 0x16;
    /// `sstore(a0, sload(a0) + a1)`.
    pub const ADD: u8 = 0x17;
}

/// Record size without tail.
pub const REC: usize = 97;
/// Slot holding the last created address; a call target of 0 means "this address".
pub const LAST: u64 = 0xc0_ffee;
/// Call results are stored at `RESULT + p` (p = record offset in the frame's calldata).
pub const RESULT: u64 = 0x5c00;
/// `BLOCKHASH(k)` is stored at `BH_BASE + k`; such slots are compared against each chain's own
/// block hashes, not against each other.
pub fn bh_base() -> U256 {
    U256::from(0xb10c_u64) << 128
}

/// Pushes argument `i` of the current record; `depth` is the position of `p` on the stack
/// (1 = top) before the push.
fn arg(a: &mut Asm, i: u64, depth: u8) {
    a.ops(&[op::dup(depth)])
        .pushn(1 + 32 * i)
        .ops(&[op::ADD, op::CALLDATALOAD]);
}

/// Replaces an address 0 on top of the stack by `sload(LAST)`.
fn or_last(a: &mut Asm) {
    a.ops(&[op::DUP1, op::ISZERO])
        .pushn(LAST)
        .ops(&[op::SLOAD, op::MUL, op::ADD]);
}

/// The interpreter's runtime code.
pub fn runtime() -> Vec<u8> {
    let mut a = Asm::default();
    let ops: Vec<(u8, String)> = [
        sop::SSTORE,
        sop::COPY,
        sop::READLOG,
        sop::TSTORE,
        sop::TLOAD,
        sop::CREATE2,
        sop::CREATE,
        sop::CALL,
        sop::DELEGATECALL,
        sop::STATICCALL,
        sop::REVERT,
        sop::OOG,
        sop::INVALID,
        sop::SELFDESTRUCT,
        sop::TRANSFER,
        sop::LOG0,
        sop::LOG0 + 1,
        sop::LOG0 + 2,
        sop::LOG0 + 3,
        sop::LOG0 + 4,
        sop::ENV,
        sop::BLOCKHASH,
        sop::ADD,
    ]
    .into_iter()
    .map(|o| (o, format!("op{o:02x}")))
    .collect();

    // Dispatch loop; the stack holds p, the offset of the current record.
    a.pushn(0);
    a.label("loop");
    a.ops(&[op::CALLDATASIZE, op::dup(2), op::LT, op::ISZERO])
        .jumpi("end");
    a.ops(&[op::DUP1, op::CALLDATALOAD])
        .pushn(248)
        .ops(&[op::SHR]);
    for (code, l) in &ops {
        a.ops(&[op::DUP1]).pushn(u64::from(*code)).ops(&[op::EQ]);
        a.jumpi(l);
    }
    a.ops(&[op::INVALID]);
    a.label("end").ops(&[op::STOP]);
    a.label("next")
        .pushn(REC as u64)
        .ops(&[op::ADD])
        .jump("loop");

    for (code, l) in &ops {
        a.label(l).ops(&[op::POP]); // [p]
        match *code {
            sop::SSTORE => {
                arg(&mut a, 1, 1);
                arg(&mut a, 0, 2);
                a.ops(&[op::SSTORE]);
            }
            sop::COPY => {
                arg(&mut a, 0, 1);
                a.ops(&[op::SLOAD]);
                arg(&mut a, 1, 2);
                a.ops(&[op::SSTORE]);
            }
            sop::READLOG => {
                arg(&mut a, 0, 1);
                a.ops(&[op::SLOAD, op::DUP1, op::PUSH0, op::MSTORE]); // [v, p]
                arg(&mut a, 0, 2); // [a0, v, p]
                a.pushn(32).ops(&[op::PUSH0, op::LOG0 + 2]);
            }
            sop::TSTORE => {
                arg(&mut a, 1, 1);
                arg(&mut a, 0, 2);
                a.ops(&[op::TSTORE]);
            }
            sop::TLOAD => {
                arg(&mut a, 0, 1);
                a.ops(&[op::TLOAD, op::DUP1]); // [v, v, p]
                arg(&mut a, 1, 3);
                a.ops(&[op::SSTORE, op::PUSH0, op::PUSH0, op::LOG0 + 1]);
            }
            sop::CREATE2 | sop::CREATE => {
                arg(&mut a, 2, 1);
                a.ops(&[op::PUSH0, op::MSTORE]);
                a.ops(&[op::CODESIZE, op::PUSH0])
                    .pushn(32)
                    .ops(&[op::CODECOPY]);
                if *code == sop::CREATE2 {
                    arg(&mut a, 0, 1); // [salt, p]
                    a.ops(&[op::CODESIZE]).pushn(32).ops(&[op::ADD, op::PUSH0]); // [0, size, salt, p]
                    arg(&mut a, 1, 4);
                    a.ops(&[op::CREATE2]);
                } else {
                    a.ops(&[op::CODESIZE]).pushn(32).ops(&[op::ADD, op::PUSH0]); // [0, size, p]
                    arg(&mut a, 1, 3);
                    a.ops(&[op::CREATE]);
                }
                // [addr, p]
                a.ops(&[op::DUP1, op::PUSH0, op::PUSH0, op::LOG0 + 1])
                    .pushn(LAST)
                    .ops(&[op::SSTORE]);
            }
            sop::CALL | sop::DELEGATECALL | sop::STATICCALL => {
                arg(&mut a, 2, 1);
                a.pushn(0xffff_ffff).ops(&[op::AND]); // [len, p]
                a.ops(&[op::DUP1, op::dup(3)]).pushn(REC as u64).ops(&[
                    op::ADD,
                    op::PUSH0,
                    op::CALLDATACOPY,
                ]); // [len, p]
                a.ops(&[op::PUSH0, op::PUSH0, op::dup(3), op::PUSH0]); // [0, len, 0, 0, len, p]
                let mut depth = 6;
                if *code == sop::CALL {
                    arg(&mut a, 1, depth);
                    depth += 1;
                }
                arg(&mut a, 0, depth);
                or_last(&mut a);
                depth += 1;
                arg(&mut a, 2, depth);
                a.pushn(32)
                    .ops(&[op::SHR, op::DUP1, op::ISZERO, op::GAS, op::MUL, op::ADD]);
                a.ops(&[match *code {
                    sop::CALL => op::CALL,
                    sop::DELEGATECALL => op::DELEGATECALL,
                    _ => op::STATICCALL,
                }]); // [s, len, p]
                a.ops(&[op::DUP1]).pushn(1).ops(&[op::ADD, op::dup(4)]);
                a.pushn(RESULT).ops(&[op::ADD, op::SSTORE]);
                a.ops(&[
                    op::RETURNDATASIZE,
                    op::PUSH0,
                    op::PUSH0,
                    op::RETURNDATACOPY,
                    op::RETURNDATASIZE,
                    op::PUSH0,
                    op::LOG0 + 1,
                    op::ADD,
                ]); // [p + len]
            }
            sop::REVERT => {
                arg(&mut a, 0, 1);
                a.ops(&[op::PUSH0, op::MSTORE])
                    .pushn(32)
                    .ops(&[op::PUSH0, op::REVERT]);
            }
            sop::OOG => {
                let l = a.fresh("spin");
                a.label(&l).jump(&l);
            }
            sop::INVALID => {
                a.ops(&[op::INVALID]);
            }
            sop::SELFDESTRUCT => {
                arg(&mut a, 0, 1);
                a.ops(&[op::SELFDESTRUCT]);
            }
            sop::TRANSFER => {
                a.ops(&[op::PUSH0, op::PUSH0, op::PUSH0, op::PUSH0]);
                arg(&mut a, 1, 5);
                arg(&mut a, 0, 6);
                or_last(&mut a);
                a.ops(&[op::PUSH0, op::CALL, op::PUSH0, op::PUSH0, op::LOG0 + 1]);
            }
            c if (sop::LOG0..=sop::LOG0 + 4).contains(&c) => {
                let n = c - sop::LOG0;
                arg(&mut a, 2, 1);
                a.ops(&[op::PUSH0, op::MSTORE]);
                for j in 0..n {
                    arg(&mut a, 1, 1 + j);
                    a.pushn(u64::from(n - 1 - j)).ops(&[op::ADD]);
                }
                arg(&mut a, 0, 1 + n);
                a.pushn(63).ops(&[op::AND, op::PUSH0, op::LOG0 + n]);
            }
            sop::ENV => {
                let simple = [
                    op::TIMESTAMP,
                    op::NUMBER,
                    op::COINBASE,
                    op::BASEFEE,
                    op::CHAINID,
                    op::GASLIMIT,
                    op::GASPRICE,
                    op::ORIGIN,
                    op::CALLER,
                    op::CALLVALUE,
                    op::SELFBALANCE,
                    op::ADDRESS,
                    op::CODESIZE,
                    op::MSIZE,
                    op::RETURNDATASIZE,
                ];
                let mut k = 0u64;
                for o in simple {
                    a.ops(&[o]);
                    arg(&mut a, 0, 2);
                    a.pushn(k).ops(&[op::ADD, op::SSTORE]);
                    k += 1;
                }
                for o in [op::BALANCE, op::EXTCODEHASH, op::EXTCODESIZE] {
                    arg(&mut a, 1, 1);
                    or_last(&mut a);
                    a.ops(&[o]);
                    arg(&mut a, 0, 2);
                    a.pushn(k).ops(&[op::ADD, op::SSTORE]);
                    k += 1;
                }
                a.ops(&[op::PUSH0, op::BLOBHASH]);
                arg(&mut a, 0, 2);
                a.pushn(k).ops(&[op::ADD, op::SSTORE]);
                k += 1;
                a.ops(&[op::GAS]);
                arg(&mut a, 0, 2);
                a.pushn(k).ops(&[op::ADD, op::SSTORE]);
            }
            sop::BLOCKHASH => {
                a.pushn(1).ops(&[op::NUMBER, op::SUB]); // [n-1, p]
                a.ops(&[op::DUP1, op::BLOCKHASH, op::SWAP1]); // [n-1, h, p]
                a.push(bh_base()).ops(&[op::ADD, op::SSTORE]);
                a.ops(&[
                    op::NUMBER,
                    op::BLOCKHASH,
                    op::PUSH0,
                    op::PUSH0,
                    op::LOG0 + 1,
                ]);
                arg(&mut a, 1, 1);
                a.ops(&[op::BLOCKHASH, op::PUSH0, op::PUSH0, op::LOG0 + 1]);
            }
            sop::ADD => {
                arg(&mut a, 0, 1);
                a.ops(&[op::SLOAD]);
                arg(&mut a, 1, 2);
                a.ops(&[op::ADD]);
                arg(&mut a, 0, 2);
                a.ops(&[op::SSTORE]);
            }
            other => unreachable!("no handler for {other:#x}"),
        }
        a.jump("next");
    }
    a.finish()
}

/// Constructor stubs: exactly 32 bytes each, followed in the init code by the runtime.
pub mod stub {
    use super::op;

    fn pad(code: &[u8]) -> [u8; 32] {
        let mut s = [0u8; 32];
        s[..code.len()].copy_from_slice(code);
        s
    }

    /// `sstore(0x77, caller)`, then returns the code after the stub.
    pub fn deploy() -> [u8; 32] {
        pad(&[
            op::CALLER,
            op::PUSH1,
            0x77,
            op::SSTORE,
            op::PUSH1,
            32,
            op::CODESIZE,
            op::SUB,
            op::DUP1,
            op::PUSH1,
            32,
            op::PUSH0,
            op::CODECOPY,
            op::PUSH0,
            op::RETURN,
        ])
    }

    /// Self-destructs in the constructor, paying the creator.
    pub fn die_to_caller() -> [u8; 32] {
        pad(&[op::CALLER, op::SELFDESTRUCT])
    }

    /// Self-destructs in the constructor with itself as beneficiary (burns its balance).
    pub fn die_to_self() -> [u8; 32] {
        pad(&[op::ADDRESS, op::SELFDESTRUCT])
    }

    /// The constructor reverts.
    pub fn revert() -> [u8; 32] {
        pad(&[
            op::CALLER,
            op::PUSH1,
            0x77,
            op::SSTORE,
            op::PUSH0,
            op::PUSH0,
            op::REVERT,
        ])
    }

    /// Writes storage and deploys no code: an account with storage, a nonce and no code.
    pub fn codeless() -> [u8; 32] {
        pad(&[op::CALLER, op::PUSH1, 0x77, op::SSTORE, op::STOP])
    }

    /// All stubs, the deploying one first.
    pub fn all() -> [[u8; 32]; 5] {
        [
            deploy(),
            die_to_caller(),
            die_to_self(),
            revert(),
            codeless(),
        ]
    }

    /// A stub's name, for reports.
    pub fn name(s: &[u8; 32]) -> &'static str {
        const NAMES: [&str; 5] = [
            "deploy",
            "die-to-caller",
            "die-to-self",
            "revert",
            "codeless",
        ];
        all().iter().position(|x| x == s).map_or("?", |i| NAMES[i])
    }
}
