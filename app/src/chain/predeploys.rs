//! Contracts every Parley chain has from genesis, at the canonical addresses where tools expect
//! them (DESIGN §7):
//!
//! - a Multicall3-compatible aggregator at [`MULTICALL3`] (viem's `multicall` batches reads
//!   through `aggregate3` there);
//! - the deterministic CREATE2 deployer at [`CREATE2_DEPLOYER`] (`forge script` sends
//!   `new C{salt: s}()` there: calldata = 32-byte salt ‖ initcode, returns the 20-byte address).
//!
//! Both are Parley's own code: the sources are in `contracts/predeploys/`, and
//! `contracts/predeploys/build.sh` compiles them with the project's solc (0.8.19, optimizer on,
//! no metadata) into the runtime-bytecode hex files next to this module, which are compiled in
//! here. `contracts/predeploys/check.sh` verifies that the committed hex matches the sources.
//! [`crate::chain::genesis::AppGenesis::with_predeploys`] puts them into a genesis.

use alloy_primitives::{Address, Bytes, address};

/// Address of the Multicall3-compatible aggregator (the same on every EVM chain).
pub const MULTICALL3: Address = address!("cA11bde05977b3631167028862bE2a173976CA11");

/// Address of the deterministic CREATE2 deployer (the same on every EVM chain).
pub const CREATE2_DEPLOYER: Address = address!("4e59b44847b379578588920ca78fbf26c0b4956c");

/// Runtime code of `contracts/predeploys/Aggregator.sol`, as hex (built by build.sh).
const AGGREGATOR_HEX: &str = include_str!("predeploys/aggregator.hex");

/// Runtime code of `contracts/predeploys/Create2Deployer.yul`, as hex (built by build.sh).
const CREATE2_DEPLOYER_HEX: &str = include_str!("predeploys/create2_deployer.hex");

/// Address of the L2 withdrawal contract on a chain with a bridge (DESIGN §6): its
/// `Withdrawal` logs are the epoch's withdrawals to L1 ([`crate::chain::bridge`]).
pub const WITHDRAWALS: Address = address!("00000000000000000000000000000000000b11d6");

/// Runtime code of `contracts/predeploys/L2Withdrawals.sol`, as hex (built by build.sh).
const WITHDRAWALS_HEX: &str = include_str!("predeploys/l2_withdrawals.hex");

/// The predeploys of a chain with an L1 bridge, beside [`all`]: the withdrawal contract.
pub fn bridge() -> Vec<Predeploy> {
    vec![Predeploy {
        name: "L2 withdrawals",
        address: WITHDRAWALS,
        code: decode("l2_withdrawals", WITHDRAWALS_HEX),
    }]
}

/// One predeployed contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Predeploy {
    /// Short name, for logs and docs.
    pub name: &'static str,
    /// Where it lives.
    pub address: Address,
    /// Its runtime code.
    pub code: Bytes,
}

fn decode(name: &str, hex_text: &str) -> Bytes {
    // The files are produced by build.sh and checked by the tests below and by check.sh, so a
    // bad file is a build defect, not an input error.
    hex::decode(hex_text.trim())
        .unwrap_or_else(|e| panic!("predeploy {name}: committed hex does not decode: {e}"))
        .into()
}

/// The predeploys, in address order.
pub fn all() -> Vec<Predeploy> {
    let mut v = vec![
        Predeploy {
            name: "Multicall3-compatible aggregator",
            address: MULTICALL3,
            code: decode("aggregator", AGGREGATOR_HEX),
        },
        Predeploy {
            name: "deterministic CREATE2 deployer",
            address: CREATE2_DEPLOYER,
            code: decode("create2_deployer", CREATE2_DEPLOYER_HEX),
        },
    ];
    v.sort_by_key(|p| p.address);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::genesis::{AppGenesis, Params};
    use alloy_primitives::U256;
    use alloy_primitives::{B256, keccak256};
    use revm::context::TxEnv;
    use revm::context_interface::result::ExecutionResult;
    use revm::database::{CacheDB, EmptyDB};
    use revm::primitives::TxKind;
    use revm::state::{AccountInfo, Bytecode};
    use revm::{Context, ExecuteCommitEvm, MainBuilder, MainContext};

    #[test]
    fn hex_decodes_and_is_code() {
        let all = all();
        assert_eq!(all.len(), 2);
        for p in &all {
            assert!(!p.code.is_empty(), "{} has no code", p.name);
            assert!(p.code.len() < 24 * 1024, "{} exceeds EIP-170", p.name);
            assert_ne!(p.code[0], 0xef, "{} starts with 0xEF (EIP-3541)", p.name);
        }
        for (file, text) in [
            ("aggregator.hex", AGGREGATOR_HEX),
            ("create2_deployer.hex", CREATE2_DEPLOYER_HEX),
            ("l2_withdrawals.hex", WITHDRAWALS_HEX),
        ] {
            let t = text.trim();
            assert!(
                t.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{file}: not lowercase hex"
            );
        }
        // The aggregator exposes aggregate3 (0x82ad56cb), the selector viem calls.
        let agg = &all
            .iter()
            .find(|p| p.address == MULTICALL3)
            .expect("listed")
            .code;
        assert!(agg.windows(4).any(|w| w == [0x82, 0xad, 0x56, 0xcb]));
    }

    #[test]
    fn with_predeploys_adds_them_once_and_validates() {
        let owner = Address::repeat_byte(7);
        let g = AppGenesis::funded(Params::default(), [owner], U256::from(1))
            .with_predeploys()
            .with_predeploys();
        g.validate().expect("valid");
        assert_eq!(g.accounts.len(), 3);
        assert_eq!(g.accounts[0].address, owner, "funded accounts come first");
        for a in &g.accounts[1..] {
            assert!(!a.code.is_empty());
            assert_eq!(a.nonce, 1);
        }
        // An account the genesis already lists at a predeploy address is kept as given.
        let mine =
            AppGenesis::funded(Params::default(), [MULTICALL3], U256::from(5)).with_predeploys();
        let at = mine
            .accounts
            .iter()
            .find(|a| a.address == MULTICALL3)
            .expect("kept");
        assert!(at.code.is_empty() && at.balance == U256::from(5));
        assert_eq!(mine.accounts.len(), 2);
    }

    // ---- a small ABI encoder/decoder, enough for aggregate3 ----

    fn word(v: U256) -> [u8; 32] {
        v.to_be_bytes()
    }

    fn addr_word(a: Address) -> [u8; 32] {
        let mut w = [0u8; 32];
        w[12..].copy_from_slice(a.as_slice());
        w
    }

    fn padded(data: &[u8]) -> Vec<u8> {
        let mut v = data.to_vec();
        v.resize(data.len().div_ceil(32) * 32, 0);
        v
    }

    fn selector(sig: &str) -> [u8; 4] {
        let h = keccak256(sig.as_bytes());
        [h[0], h[1], h[2], h[3]]
    }

    /// `aggregate3((address,bool,bytes)[])` calldata.
    fn encode_aggregate3(calls: &[(Address, bool, Vec<u8>)]) -> Vec<u8> {
        let mut out = selector("aggregate3((address,bool,bytes)[])").to_vec();
        out.extend(word(U256::from(0x20)));
        out.extend(word(U256::from(calls.len())));
        let tuples: Vec<Vec<u8>> = calls
            .iter()
            .map(|(target, allow, data)| {
                let mut t = Vec::new();
                t.extend(addr_word(*target));
                t.extend(word(U256::from(u8::from(*allow))));
                t.extend(word(U256::from(0x60)));
                t.extend(word(U256::from(data.len())));
                t.extend(padded(data));
                t
            })
            .collect();
        let mut offset = 32 * calls.len();
        for t in &tuples {
            out.extend(word(U256::from(offset)));
            offset += t.len();
        }
        for t in tuples {
            out.extend(t);
        }
        out
    }

    fn read_word(data: &[u8], at: usize) -> U256 {
        U256::from_be_slice(&data[at..at + 32])
    }

    fn read_usize(data: &[u8], at: usize) -> usize {
        usize::try_from(read_word(data, at)).expect("small")
    }

    /// Decodes `(bool,bytes)[]` returned by aggregate3.
    fn decode_results(ret: &[u8]) -> Vec<(bool, Vec<u8>)> {
        let arr = read_usize(ret, 0);
        let n = read_usize(ret, arr);
        let body = arr + 32;
        (0..n)
            .map(|i| {
                let t = body + read_usize(ret, body + 32 * i);
                let ok = !read_word(ret, t).is_zero();
                let b = t + read_usize(ret, t + 32);
                let len = read_usize(ret, b);
                (ok, ret[b + 32..b + 32 + len].to_vec())
            })
            .collect()
    }

    type Evm = revm::MainnetEvm<revm::handler::MainnetContext<CacheDB<EmptyDB>>>;

    const CALLER: Address = address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

    fn evm() -> Evm {
        let mut db = CacheDB::new(EmptyDB::default());
        for p in all() {
            let code = Bytecode::new_raw(p.code.clone());
            db.insert_account_info(
                p.address,
                AccountInfo::new(U256::ZERO, 1, keccak256(&p.code), code),
            );
        }
        db.insert_account_info(
            CALLER,
            AccountInfo::new(
                U256::from(10u128.pow(21)),
                0,
                revm::primitives::KECCAK_EMPTY,
                Bytecode::default(),
            ),
        );
        let mut cfg = revm::context::CfgEnv::new_with_spec(crate::chain::SPEC);
        cfg.chain_id = 424_242;
        Context::mainnet()
            .with_db(db)
            .with_cfg(cfg)
            .with_block(revm::context::BlockEnv {
                number: U256::from(7),
                basefee: 0,
                gas_limit: 30_000_000,
                ..Default::default()
            })
            .build_mainnet()
    }

    fn call(evm: &mut Evm, nonce: u64, to: Address, value: U256, data: Vec<u8>) -> ExecutionResult {
        evm.transact_commit(TxEnv {
            caller: CALLER,
            kind: TxKind::Call(to),
            value,
            data: data.into(),
            nonce,
            gas_limit: 5_000_000,
            gas_price: 0,
            chain_id: Some(424_242),
            ..Default::default()
        })
        .expect("valid transaction")
    }

    #[test]
    fn aggregate3_returns_each_calls_result() {
        let mut evm = evm();
        let balance_of = |a: Address| {
            let mut d = selector("getEthBalance(address)").to_vec();
            d.extend(addr_word(a));
            d
        };
        let calls = vec![
            (MULTICALL3, false, selector("getChainId()").to_vec()),
            (MULTICALL3, false, balance_of(CALLER)),
            // The deployer reverts on calldata shorter than a salt: allowed to fail.
            (CREATE2_DEPLOYER, true, vec![1, 2, 3]),
            (MULTICALL3, false, selector("getBlockNumber()").to_vec()),
        ];
        let r = call(
            &mut evm,
            0,
            MULTICALL3,
            U256::ZERO,
            encode_aggregate3(&calls),
        );
        assert!(r.is_success(), "{r:?}");
        let results = decode_results(r.output().expect("output"));
        assert_eq!(results.len(), 4);
        assert_eq!(results[0], (true, word(U256::from(424_242)).to_vec()));
        assert!(results[1].0);
        // The caller's balance as seen inside the call (gas price 0: nothing spent).
        assert_eq!(read_word(&results[1].1, 0), U256::from(10u128.pow(21)));
        assert_eq!(results[2], (false, Vec::new()));
        assert_eq!(results[3], (true, word(U256::from(7)).to_vec()));

        // The same failing call without allowFailure reverts the batch with the reason.
        let calls = vec![
            (MULTICALL3, false, selector("getChainId()").to_vec()),
            (CREATE2_DEPLOYER, false, vec![1, 2, 3]),
        ];
        let r = call(
            &mut evm,
            1,
            MULTICALL3,
            U256::ZERO,
            encode_aggregate3(&calls),
        );
        assert!(!r.is_success(), "{r:?}");
        let out = r.output().expect("revert data");
        // Error(string) selector, then the reason.
        assert_eq!(out[..4], [0x08, 0xc3, 0x79, 0xa0]);
        assert!(
            out.windows(23).any(|w| w == b"Multicall3: call failed"),
            "{out:?}"
        );
    }

    #[test]
    fn create2_deployer_deploys_at_the_create2_address() {
        let mut evm = evm();
        // initcode that returns the 1-byte runtime 0x2a (PUSH1 0x2a PUSH1 0 MSTORE8 PUSH1 1
        // PUSH1 0 RETURN).
        let initcode = [0x60, 0x2a, 0x60, 0x00, 0x53, 0x60, 0x01, 0x60, 0x00, 0xf3];
        let salt = B256::repeat_byte(0x11);
        let mut data = salt.to_vec();
        data.extend(initcode);
        let r = call(&mut evm, 0, CREATE2_DEPLOYER, U256::from(5), data.clone());
        assert!(r.is_success(), "{r:?}");
        let expected = CREATE2_DEPLOYER.create2_from_code(salt, initcode);
        assert_eq!(
            r.output().expect("output").as_ref(),
            expected.as_slice(),
            "returns the 20-byte address, unpadded"
        );
        let acc = evm
            .ctx
            .journaled_state
            .database
            .cache
            .accounts
            .get(&expected)
            .expect("created");
        assert_eq!(acc.info.balance, U256::from(5), "msg.value is forwarded");
        assert_eq!(
            acc.info
                .code
                .as_ref()
                .expect("code")
                .original_bytes()
                .as_ref(),
            [0x2a]
        );
        // Same salt and initcode again: the address is taken, so the call reverts.
        let r = call(&mut evm, 1, CREATE2_DEPLOYER, U256::ZERO, data);
        assert!(!r.is_success(), "{r:?}");
        // Initcode that reverts with data: the revert data is passed on.
        let mut data = salt.to_vec();
        data.extend([0x60, 0x2a, 0x60, 0x00, 0x53, 0x60, 0x01, 0x60, 0x00, 0xfd]);
        let r = call(&mut evm, 2, CREATE2_DEPLOYER, U256::ZERO, data);
        assert!(!r.is_success(), "{r:?}");
        assert_eq!(r.output().expect("revert data").as_ref(), [0x2a]);
    }
}
