// End-to-end test of real Ethereum clients against a running Parley node (DESIGN §7, issue 6
// item 5): a wallet's flow through viem 2 (HTTP and WebSocket), the basics through ethers 6, and
// `forge create` / `forge script --broadcast` (through the predeployed CREATE2 deployer).
//
// Run by ./run.sh <rpc-url> <ws-url>, which sets PARLEY_RPC_URL and PARLEY_WS_URL. Every check
// is its own test, so a missing or wrong RPC behaviour shows up as one named failure with the
// client's error (method, parameters, node's answer) while the rest still runs. Tests in a
// suite run in order and share state (the deployed contract).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  BaseError,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  concat,
  defineChain,
  encodeDeployData,
  encodeFunctionData,
  getContractAddress,
  http,
  pad,
  parseAbi,
  parseAbiItem,
  parseEther,
  parseEventLogs,
  slice,
  toHex,
  webSocket,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import * as ethers from 'ethers';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLIENTS_DIR = path.resolve(HERE, '..');
const REPO = path.resolve(CLIENTS_DIR, '../../..');
const RPC = process.env.PARLEY_RPC_URL ?? 'http://127.0.0.1:8545';
const WS = process.env.PARLEY_WS_URL ?? RPC.replace(/^http/, 'ws');
const CHAIN_ID = Number(process.env.PARLEY_CHAIN_ID ?? 424242);
// Dev account 0 of the `test test … junk` mnemonic, prefunded in the localnet genesis.
const KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
const MULTICALL3 = '0xcA11bde05977b3631167028862bE2a173976CA11';
const CREATE2_DEPLOYER = '0x4e59b44847b379578588920ca78fbf26c0b4956c';
const FORGE = path.join(REPO, '.tools/bin/forge');
const SOLC_JS = path.join(REPO, '.tools/npm/node_modules/solc');
const REASON = 'Demo: refused on purpose';

// ---- helpers --------------------------------------------------------------------------------

/** Rejects with `what` when `promise` takes longer than `ms`. */
function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value (returned) or `ms` pass (throws naming `what`). */
async function eventually(ms, what, fn) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(250);
  }
}

/** A fresh random address (never used before, so its balance is what we send it). */
function freshAddress() {
  return privateKeyToAccount(toHex(crypto.getRandomValues(new Uint8Array(32)))).address;
}

/** Compiles contracts/Demo.sol with the project's solcjs (the same compiler forge uses). */
function compileDemo() {
  const require = createRequire(import.meta.url);
  const solc = require(SOLC_JS);
  const input = {
    language: 'Solidity',
    sources: { 'Demo.sol': { content: fs.readFileSync(path.join(CLIENTS_DIR, 'contracts/Demo.sol'), 'utf8') } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: 'paris',
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error');
  assert.equal(errors.length, 0, errors.map((e) => e.formattedMessage).join('\n'));
  const c = out.contracts['Demo.sol'].Demo;
  return { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` };
}

const { abi, bytecode } = compileDemo();
const storedEvent = parseAbiItem('event Stored(address indexed by, uint256 indexed round, uint256 value)');
const multicall3Abi = parseAbi([
  'function getEthBalance(address addr) view returns (uint256 balance)',
  'function getChainId() view returns (uint256 chainid)',
  'function getBlockNumber() view returns (uint256 blockNumber)',
]);

const chain = defineChain({
  id: CHAIN_ID,
  name: 'Parley',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: [RPC], webSocket: [WS] } },
  contracts: { multicall3: { address: MULTICALL3 } },
});

const account = privateKeyToAccount(KEY);
// Every HTTP request body, to prove what viem sent (multicall → aggregate3 on the predeploy).
const sentBodies = [];
const httpTransport = http(RPC, {
  retryCount: 0,
  timeout: 30_000,
  onFetchRequest: (_request, init) => {
    sentBodies.push(String(init?.body ?? ''));
  },
});
const publicClient = createPublicClient({ chain, transport: httpTransport, pollingInterval: 250 });
const walletClient = createWalletClient({ account, chain, transport: httpTransport, pollingInterval: 250 });

async function waitOk(hash, what) {
  const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: 60_000, pollingInterval: 250 });
  assert.equal(receipt.status, 'success', `${what}: receipt status ${receipt.status}`);
  return receipt;
}

/** The revert reason viem found in `err`, if any. */
function revertReason(err) {
  if (!(err instanceof BaseError)) return undefined;
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
  return reverted?.reason;
}

/** Long hex (calldata, bytecode) shortened so a failure report stays readable. */
const shortenHex = (text) =>
  String(text).replace(/0x[0-9a-fA-F]{160,}/g, (m) => `${m.slice(0, 42)}…(${(m.length - 2) / 2} bytes)`);

const bigintJson = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x));

/**
 * A client error reduced to what identifies the failing RPC behaviour: viem's message (method,
 * request body, the node's answer) or ethers' code, short message and the node's JSON-RPC error
 * with the method — without the nested cause chain node's reporter would print in full.
 */
function compactError(e) {
  let message;
  if (e instanceof BaseError) {
    // viem's message names the method and request; the node's error `data` says why.
    const rpc = e.walk((x) => x?.name === 'RpcRequestError' || (x?.code !== undefined && 'data' in (x ?? {})));
    const data = rpc?.data !== undefined ? `\nNode error data: ${bigintJson(rpc.data)}` : '';
    message = `${e.name}: ${e.message}${data}`;
  } else if (e && typeof e.shortMessage === 'string' && e.code) {
    const info = e.info?.error ? ` — ${e.info?.payload?.method ?? 'request'} answered ${bigintJson(e.info.error)}` : '';
    message = `ethers ${e.code}: ${e.shortMessage}${info}`;
  } else {
    return e; // assertion failures and the rest are already compact
  }
  const c = new Error(shortenHex(message));
  c.stack = c.message;
  return c;
}

/** Skips test `t` (saying why) when `value`, made by an earlier test that failed, is missing. */
function needs(t, value, what) {
  if (!value) t.skip(`${what}, which failed above`);
  return Boolean(value);
}

/** `test`, with client errors made compact (see compactError). */
function check(name, ...rest) {
  const fn = rest.pop();
  return test(name, ...rest, async (t) => {
    try {
      await fn(t);
    } catch (e) {
      throw compactError(e);
    }
  });
}

// ---- viem -----------------------------------------------------------------------------------

describe('viem 2 (HTTP): a wallet flow', { timeout: 300_000 }, () => {
  const s = {}; // shared between the tests below, in order

  check('eth_chainId', async () => {
    assert.equal(await publicClient.getChainId(), CHAIN_ID);
    assert.equal(await walletClient.getChainId(), CHAIN_ID);
  });

  check('predeploys have code (Multicall3-compatible aggregator, CREATE2 deployer)', async () => {
    for (const address of [MULTICALL3, CREATE2_DEPLOYER]) {
      const code = await publicClient.getCode({ address });
      assert.ok(code && code.length > 2, `no code at ${address}`);
    }
  });

  check('fee estimation: estimateFeesPerGas, getGasPrice, getFeeHistory', async () => {
    const fees = await publicClient.estimateFeesPerGas();
    assert.equal(typeof fees.maxFeePerGas, 'bigint');
    assert.ok(fees.maxFeePerGas > 0n, `maxFeePerGas ${fees.maxFeePerGas}`);
    assert.ok(fees.maxFeePerGas >= fees.maxPriorityFeePerGas);
    const block = await publicClient.getBlock();
    assert.ok(block.baseFeePerGas > 0n, 'latest block has a base fee');
    assert.ok(fees.maxFeePerGas >= block.baseFeePerGas, 'maxFeePerGas covers the base fee');
    assert.ok((await publicClient.getGasPrice()) > 0n);
    const history = await publicClient.getFeeHistory({ blockCount: 4, rewardPercentiles: [25, 75] });
    assert.ok(history.baseFeePerGas.length >= 2, 'feeHistory has base fees');
    assert.equal(history.reward.length, history.gasUsedRatio.length);
  });

  check('estimateGas of a transfer (eth_estimateGas with one parameter) is 21000', async () => {
    const gas = await publicClient.estimateGas({ account, to: freshAddress(), value: 1n });
    assert.equal(gas, 21000n);
  });

  check('sendTransaction and waitForTransactionReceipt', async () => {
    const to = freshAddress();
    const value = parseEther('1.5');
    const nonceBefore = await publicClient.getTransactionCount({ address: account.address });
    const hash = await walletClient.sendTransaction({ to, value });
    // Visible by hash while pending or once included.
    const tx = await eventually(10_000, `eth_getTransactionByHash(${hash})`, () =>
      publicClient.getTransaction({ hash }).catch(() => null));
    assert.equal(tx.hash, hash);
    assert.equal(tx.from.toLowerCase(), account.address.toLowerCase());
    const receipt = await waitOk(hash, 'transfer');
    assert.equal(receipt.transactionHash, hash);
    assert.equal(receipt.gasUsed, 21000n);
    assert.equal(receipt.to.toLowerCase(), to.toLowerCase());
    assert.ok(receipt.effectiveGasPrice > 0n);
    assert.equal(await publicClient.getBalance({ address: to }), value);
    assert.equal(await publicClient.getTransactionCount({ address: account.address }), nonceBefore + 1);
    s.transfer = { hash, receipt, to, value };
  });

  check('getBlock with includeTransactions', async (t) => {
    if (!needs(t, s.transfer, 'needs the transfer')) return;
    const { receipt, hash, to, value } = s.transfer;
    const block = await publicClient.getBlock({ blockNumber: receipt.blockNumber, includeTransactions: true });
    assert.equal(block.hash, receipt.blockHash);
    assert.equal(block.number, receipt.blockNumber);
    const tx = block.transactions.find((t) => typeof t === 'object' && t.hash === hash);
    assert.ok(tx, `block ${block.number} lists the transfer as a full transaction object`);
    assert.equal(tx.to.toLowerCase(), to.toLowerCase());
    assert.equal(tx.value, value);
    assert.equal(tx.blockHash, block.hash);
    const byHash = await publicClient.getBlock({ blockHash: block.hash });
    assert.ok(byHash.transactions.includes(hash), 'without includeTransactions: hashes');
    assert.equal(
      await publicClient.getBlockTransactionCount({ blockHash: block.hash }),
      block.transactions.length,
    );
  });

  check('eth_getBlockReceipts', async (t) => {
    if (!needs(t, s.transfer, 'needs the transfer')) return;
    const { receipt, hash } = s.transfer;
    const receipts = await publicClient.request({
      method: 'eth_getBlockReceipts',
      params: [toHex(receipt.blockNumber)],
    });
    assert.ok(Array.isArray(receipts), `eth_getBlockReceipts returned ${JSON.stringify(receipts)}`);
    const mine = receipts.find((r) => r.transactionHash === hash);
    assert.ok(mine, 'the block receipts include the transfer');
    assert.equal(mine.status, '0x1');
  });

  check('deployContract (constructor argument) and readContract', async () => {
    const hash = await walletClient.deployContract({ abi, bytecode, args: [5n] });
    const receipt = await waitOk(hash, 'deploy');
    assert.ok(receipt.contractAddress, 'receipt has contractAddress');
    s.demo = receipt.contractAddress;
    assert.equal(await publicClient.readContract({ address: s.demo, abi, functionName: 'value' }), 5n);
  });

  check('writeContract emits an event; getLogs and getContractEvents find it', async (t) => {
    if (!needs(t, s.demo, 'needs the contract deployed')) return;
    const { request } = await publicClient.simulateContract({
      account,
      address: s.demo,
      abi,
      functionName: 'store',
      args: [42n],
    });
    const hash = await walletClient.writeContract(request);
    const receipt = await waitOk(hash, 'store(42)');
    const [fromReceipt] = parseEventLogs({ abi, logs: receipt.logs, eventName: 'Stored' });
    assert.equal(fromReceipt.args.value, 42n);
    const logs = await publicClient.getLogs({
      address: s.demo,
      event: storedEvent,
      fromBlock: receipt.blockNumber,
      toBlock: receipt.blockNumber,
    });
    assert.equal(logs.length, 1, `getLogs: ${logs.length} logs`);
    assert.equal(logs[0].args.value, 42n);
    assert.equal(logs[0].args.by.toLowerCase(), account.address.toLowerCase());
    assert.equal(logs[0].transactionHash, hash);
    // Topic filter on an indexed argument, and a range from the deployment to latest.
    const byRound = await publicClient.getContractEvents({
      address: s.demo,
      abi,
      eventName: 'Stored',
      args: { round: 1n },
      fromBlock: 0n,
      toBlock: 'latest',
    });
    assert.equal(byRound.length, 1);
    const none = await publicClient.getContractEvents({
      address: s.demo,
      abi,
      eventName: 'Stored',
      args: { round: 2n },
      fromBlock: 0n,
    });
    assert.equal(none.length, 0);
    s.storeBlock = receipt.blockNumber;
  });

  check('revert reason from eth_call (readContract of a reverting function)', async (t) => {
    if (!needs(t, s.demo, 'needs the contract deployed')) return;
    const err = await publicClient
      .readContract({ address: s.demo, abi, functionName: 'refuse' })
      .then(() => null, (e) => e);
    assert.ok(err, 'readContract of refuse() must reject');
    assert.equal(revertReason(err), REASON, `viem error: ${err.message}`);
    assert.ok(err.message.includes(REASON), err.message);
    // estimateGas of the same call also carries the reason.
    const err2 = await publicClient
      .estimateContractGas({ account, address: s.demo, abi, functionName: 'refuse' })
      .then(() => null, (e) => e);
    assert.ok(err2, 'estimateContractGas of refuse() must reject');
    assert.ok(err2.message.includes(REASON), err2.message);
  });

  check('multicall goes through aggregate3 on the predeployed aggregator', async (t) => {
    if (!needs(t, s.demo, 'needs the contract deployed')) return;
    const before = sentBodies.length;
    const results = await publicClient.multicall({
      contracts: [
        { address: s.demo, abi, functionName: 'value' },
        { address: s.demo, abi, functionName: 'rounds' },
        { address: s.demo, abi, functionName: 'refuse' },
        { address: s.demo, abi, functionName: 'balanceOf', args: [account.address] },
        { address: MULTICALL3, abi: multicall3Abi, functionName: 'getChainId' },
      ],
    });
    assert.deepEqual(results[0], { status: 'success', result: 42n });
    assert.deepEqual(results[1], { status: 'success', result: 1n });
    assert.equal(results[2].status, 'failure');
    assert.equal(revertReason(results[2].error), REASON, results[2].error?.message);
    assert.equal(results[3].status, 'success');
    assert.ok(results[3].result > 0n);
    assert.deepEqual(results[4], { status: 'success', result: BigInt(CHAIN_ID) });
    const calls = sentBodies.slice(before).filter((b) => b.includes('eth_call'));
    assert.equal(calls.length, 1, `one eth_call for five reads, got ${calls.length}`);
    const body = JSON.parse(calls[0]);
    const params = (Array.isArray(body) ? body[0] : body).params[0];
    assert.equal(params.to.toLowerCase(), MULTICALL3.toLowerCase());
    assert.ok(params.data.startsWith('0x82ad56cb'), 'aggregate3 selector');
    // allowFailure: false throws on the failing call.
    await assert.rejects(
      publicClient.multicall({
        allowFailure: false,
        contracts: [{ address: s.demo, abi, functionName: 'refuse' }],
      }),
    );
  });

  check('eth_call with a state override (storage and balance)', async (t) => {
    if (!needs(t, s.demo, 'needs the contract deployed')) return;
    const data = encodeFunctionData({ abi, functionName: 'value' });
    const { data: out } = await publicClient.call({
      to: s.demo,
      data,
      stateOverride: [{ address: s.demo, stateDiff: [{ slot: pad('0x0'), value: pad('0x99') }] }],
    });
    assert.equal(BigInt(out), 0x99n, 'storage override');
    const who = freshAddress();
    const balance = await publicClient.readContract({
      address: MULTICALL3,
      abi: multicall3Abi,
      functionName: 'getEthBalance',
      args: [who],
      stateOverride: [{ address: who, balance: 12345n }],
    });
    assert.equal(balance, 12345n, 'balance override');
    // The real state is untouched.
    assert.equal(await publicClient.readContract({ address: s.demo, abi, functionName: 'value' }), 42n);
  });

  check('filters: eth_newFilter, eth_newBlockFilter, eth_newPendingTransactionFilter, eth_getFilterChanges', async (t) => {
    if (!needs(t, s.demo, 'needs the contract deployed')) return;
    const logFilter = await publicClient.createContractEventFilter({ address: s.demo, abi, eventName: 'Stored' });
    const blockFilter = await publicClient.createBlockFilter();
    const pendingFilter = await publicClient.createPendingTransactionFilter();
    const hash = await walletClient.writeContract({ address: s.demo, abi, functionName: 'store', args: [43n] });
    const pendingHashes = await eventually(15_000, 'pending-tx filter reports the tx', async () => {
      const h = await publicClient.getFilterChanges({ filter: pendingFilter });
      return h.includes(hash) ? h : null;
    });
    assert.ok(pendingHashes.includes(hash));
    await waitOk(hash, 'store(43)');
    const logs = await publicClient.getFilterChanges({ filter: logFilter });
    assert.ok(logs.some((l) => l.transactionHash === hash && l.args?.value === 43n), `log filter: ${logs.length} logs`);
    const again = await publicClient.getFilterChanges({ filter: logFilter });
    assert.equal(again.filter((l) => l.transactionHash === hash).length, 0, 'changes are reported once');
    const blocks = await publicClient.getFilterChanges({ filter: blockFilter });
    assert.ok(blocks.length >= 1, 'block filter reports new blocks');
    const all = await publicClient.getFilterLogs({ filter: logFilter });
    assert.ok(all.some((l) => l.transactionHash === hash), 'eth_getFilterLogs');
    for (const filter of [logFilter, blockFilter, pendingFilter]) {
      assert.equal(await publicClient.uninstallFilter({ filter }), true);
    }
  });

  check('deterministic deployment through the predeployed CREATE2 deployer (salt ‖ initcode)', async () => {
    const salt = toHex(crypto.getRandomValues(new Uint8Array(32)));
    const initcode = encodeDeployData({ abi, bytecode, args: [31n] });
    const data = concat([salt, initcode]);
    const expected = getContractAddress({ opcode: 'CREATE2', from: CREATE2_DEPLOYER, salt, bytecode: initcode });
    // eth_call answers the 20-byte address, unpadded.
    const { data: out } = await publicClient.call({ account, to: CREATE2_DEPLOYER, data });
    assert.equal(out?.toLowerCase(), expected.toLowerCase());
    const hash = await walletClient.sendTransaction({ to: CREATE2_DEPLOYER, data, value: 3n });
    await waitOk(hash, 'CREATE2 deployment');
    assert.equal(await publicClient.readContract({ address: expected, abi, functionName: 'value' }), 31n);
    assert.equal(await publicClient.getBalance({ address: expected }), 3n, 'msg.value reaches the new contract');
    // The same salt and initcode again: the address is taken, so the deployer reverts.
    await assert.rejects(publicClient.call({ account, to: CREATE2_DEPLOYER, data }));
  });

  check('JSON-RPC batch (viem http batch: true)', async () => {
    const batched = createPublicClient({ chain, transport: http(RPC, { batch: true, retryCount: 0 }) });
    const [id, n, bal] = await Promise.all([
      batched.getChainId(),
      batched.getBlockNumber(),
      batched.getBalance({ address: account.address }),
    ]);
    assert.equal(id, CHAIN_ID);
    assert.ok(n > 0n);
    assert.ok(bal > 0n);
  });
});

describe('viem 2 (WebSocket): subscriptions', { timeout: 180_000 }, () => {
  let ws;
  const s = {};

  before(() => {
    ws = createPublicClient({ chain, transport: webSocket(WS, { retryCount: 0, timeout: 20_000 }) });
  });

  after(async () => {
    try {
      (await ws.transport.getRpcClient()).close();
    } catch {
      // the socket never opened
    }
  });

  check('request over WebSocket: eth_chainId, eth_blockNumber', async () => {
    assert.equal(await within(20_000, 'eth_chainId over WS', ws.getChainId()), CHAIN_ID);
    assert.ok((await ws.getBlockNumber({ cacheTime: 0 })) > 0n);
  });

  check('eth_subscribe answers a hex string subscription id (viem drops notifications otherwise)', async () => {
    const rpc = await ws.transport.getRpcClient();
    const { result: id, error } = await rpc.requestAsync({ body: { method: 'eth_subscribe', params: ['newHeads'] } });
    assert.equal(error, undefined, `eth_subscribe newHeads: ${bigintJson(error)}`);
    try {
      assert.equal(typeof id, 'string', `eth_subscribe returned the ${typeof id} id ${bigintJson(id)}`);
      assert.match(id, /^0x[0-9a-fA-F]+$/);
    } finally {
      await rpc.requestAsync({ body: { method: 'eth_unsubscribe', params: [id] } }).catch(() => {});
    }
  });

  check('watchBlocks (eth_subscribe newHeads)', async () => {
    const seen = [];
    let unwatch;
    await within(30_000, 'two newHeads', new Promise((resolve, reject) => {
      unwatch = ws.watchBlocks({
        poll: false,
        onBlock: (block) => {
          seen.push(block);
          if (seen.length >= 2) resolve();
        },
        onError: reject,
      });
    })).finally(() => unwatch?.());
    assert.ok(seen[1].number > seen[0].number, `heights ${seen.map((b) => b.number)}`);
    assert.equal(seen[1].parentHash, seen[0].hash, 'consecutive heads link');
    assert.ok(seen[0].baseFeePerGas > 0n);
  });

  check('watchContractEvent (eth_subscribe logs)', async () => {
    const { contractAddress } = await waitOk(
      await walletClient.deployContract({ abi, bytecode, args: [0n] }),
      'deploy for watchContractEvent',
    );
    s.demo = contractAddress;
    const got = [];
    let unwatch;
    let subscribed;
    const logsArrived = new Promise((resolve, reject) => {
      unwatch = ws.watchContractEvent({
        address: s.demo,
        abi,
        eventName: 'Stored',
        poll: false,
        onLogs: (logs) => {
          got.push(...logs);
          if (got.some((l) => l.args.value === 77n)) resolve();
        },
        onError: reject,
      });
      subscribed = sleep(1_000); // viem subscribes asynchronously; give it a moment
    });
    try {
      await subscribed;
      const hash = await walletClient.writeContract({ address: s.demo, abi, functionName: 'store', args: [77n] });
      await waitOk(hash, 'store(77)');
      await within(20_000, 'the Stored log over the logs subscription', logsArrived);
      const log = got.find((l) => l.args.value === 77n);
      assert.equal(log.transactionHash, hash);
      assert.equal(log.address.toLowerCase(), s.demo.toLowerCase());
      assert.equal(log.eventName, 'Stored');
    } finally {
      unwatch?.();
    }
  });

  check('watchPendingTransactions (eth_subscribe newPendingTransactions)', async () => {
    const got = new Set();
    let unwatch;
    let hash;
    const arrived = new Promise((resolve, reject) => {
      unwatch = ws.watchPendingTransactions({
        poll: false,
        onTransactions: (hashes) => {
          hashes.forEach((h) => got.add(h));
          if (hash && got.has(hash)) resolve();
        },
        onError: reject,
      });
    });
    try {
      await sleep(1_000);
      hash = await walletClient.sendTransaction({ to: freshAddress(), value: 1n });
      if (got.has(hash)) return;
      await within(20_000, `pending tx ${hash} over newPendingTransactions`, arrived);
    } finally {
      unwatch?.();
      if (hash) await waitOk(hash, 'pending-watch transfer');
    }
  });
});

// ---- ethers ---------------------------------------------------------------------------------

describe('ethers 6: the basics', { timeout: 180_000 }, () => {
  let provider;
  let wallet;
  const s = {};

  before(() => {
    provider = new ethers.JsonRpcProvider(RPC, undefined, { pollingInterval: 250 });
    wallet = new ethers.Wallet(KEY, provider);
  });

  after(() => provider?.destroy());

  check('network and balance', async () => {
    const net = await provider.getNetwork();
    assert.equal(net.chainId, BigInt(CHAIN_ID));
    assert.ok((await provider.getBalance(wallet.address)) > 0n);
    const fees = await provider.getFeeData();
    assert.ok(fees.maxFeePerGas > 0n, `getFeeData: ${JSON.stringify(fees, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
  });

  check('sendTransaction and wait', async () => {
    const to = ethers.Wallet.createRandom().address;
    const tx = await wallet.sendTransaction({ to, value: ethers.parseEther('0.25') });
    const receipt = await tx.wait(1, 60_000);
    assert.equal(receipt.status, 1);
    assert.equal(receipt.hash, tx.hash);
    assert.equal(await provider.getBalance(to), ethers.parseEther('0.25'));
  });

  check('deploy, call, send, events, revert reason', async () => {
    const factory = new ethers.ContractFactory(abi, bytecode, wallet);
    const demo = await factory.deploy(3n);
    await demo.waitForDeployment();
    s.demo = demo;
    assert.equal(await demo.value(), 3n);
    const tx = await demo.store(8n);
    const receipt = await tx.wait(1, 60_000);
    assert.equal(receipt.status, 1);
    const parsed = receipt.logs.map((l) => demo.interface.parseLog(l)).filter(Boolean);
    assert.equal(parsed[0].name, 'Stored');
    assert.equal(parsed[0].args.value, 8n);
    assert.equal(await demo.value(), 8n);
    const events = await demo.queryFilter(demo.filters.Stored(), receipt.blockNumber, receipt.blockNumber);
    assert.equal(events.length, 1);
    const err = await demo.refuse.staticCall().then(() => null, (e) => e);
    assert.ok(err, 'refuse() must reject');
    assert.equal(err.reason, REASON, `ethers error: ${err.shortMessage ?? err.message}`);
  });

  check('WebSocketProvider: block events', async () => {
    const wsp = new ethers.WebSocketProvider(WS);
    try {
      const n = await within(30_000, 'a block event over ethers WebSocketProvider', new Promise((resolve, reject) => {
        wsp.on('block', resolve).catch(reject);
      }));
      assert.ok(n > 0);
    } finally {
      await wsp.destroy();
    }
  });
});

// ---- forge ----------------------------------------------------------------------------------

describe('forge: create and script --broadcast', { timeout: 420_000 }, () => {
  let root;

  before(() => {
    assert.ok(fs.existsSync(FORGE), `no forge at ${FORGE}; run scripts/tools.sh`);
    // A throwaway forge project: nothing is written into the repository.
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-clients-forge-'));
    fs.mkdirSync(path.join(root, 'src'));
    for (const f of ['Demo.sol', 'DeployCreate2.s.sol']) {
      fs.copyFileSync(path.join(CLIENTS_DIR, 'contracts', f), path.join(root, 'src', f));
    }
    fs.writeFileSync(
      path.join(root, 'foundry.toml'),
      [
        '[profile.default]',
        'src = "src"',
        'offline = true',
        `solc = "${path.join(REPO, '.tools/bin/solc')}"`,
        'optimizer = true',
        'optimizer_runs = 200',
        'evm_version = "paris"',
        '',
      ].join('\n'),
    );
  });

  after(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  function forge(args, env = {}) {
    const r = spawnSync(FORGE, args, {
      cwd: root,
      env: { ...process.env, ...env, NO_COLOR: '1', FOUNDRY_DISABLE_NIGHTLY_WARNING: '1' },
      encoding: 'utf8',
      timeout: 300_000,
    });
    const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
    assert.equal(r.status, 0, `forge ${args[0]} exited ${r.status} ${r.error ?? ''}:\n${out.slice(-4000)}`);
    return out;
  }

  check('forge create --broadcast', async () => {
    const out = forge([
      'create', 'src/Demo.sol:Demo',
      '--rpc-url', RPC,
      '--private-key', KEY,
      '--broadcast',
      '--constructor-args', '21',
    ]);
    const m = out.match(/Deployed to: (0x[0-9a-fA-F]{40})/);
    assert.ok(m, `no "Deployed to:" in forge output:\n${out}`);
    assert.equal(await publicClient.readContract({ address: m[1], abi, functionName: 'value' }), 21n);
  });

  check('forge script --broadcast (plain CREATE)', async () => {
    const out = forge(
      [
        'script', 'src/DeployCreate2.s.sol:DeployCreate2',
        '--rpc-url', RPC,
        '--private-key', KEY,
        '--broadcast',
        '--slow',
        '--non-interactive',
      ],
      { DEMO_SALT: '0' },
    );
    assert.match(out, /ONCHAIN EXECUTION COMPLETE & SUCCESSFUL/, out.slice(-4000));
    const run = JSON.parse(fs.readFileSync(
      path.join(root, 'broadcast', 'DeployCreate2.s.sol', String(CHAIN_ID), 'run-latest.json'),
      'utf8',
    ));
    const create = run.transactions.find((t) => t.transactionType === 'CREATE');
    assert.ok(create, `a CREATE transaction in the broadcast: ${run.transactions.map((t) => t.transactionType)}`);
    assert.equal(await publicClient.readContract({ address: create.contractAddress, abi, functionName: 'value' }), 12n);
  });

  // forge 1.7.1 accepts a CREATE2 deployer only if its code hash is the canonical one
  // (0x2fa86add…7e4989), even with --create2-deployer; ours is our own code, so salted
  // `forge script` deployments are refused ("invalid CREATE2 deployer bytecode"). Reported
  // as a todo (not a pass) until we decide to predeploy the canonical bytes. Deployments
  // through the deployer by any other client (viem, cast) pass above.
  check('forge script --broadcast deploys through the CREATE2 deployer', {
    todo: 'forge requires the canonical deployer bytecode; see docs/operators/dapp-developers.md',
  }, async () => {
    const salt = BigInt(toHex(crypto.getRandomValues(new Uint8Array(16))));
    const out = forge(
      [
        'script', 'src/DeployCreate2.s.sol:DeployCreate2',
        '--rpc-url', RPC,
        '--private-key', KEY,
        '--broadcast',
        '--slow',
        '--non-interactive',
      ],
      { DEMO_SALT: salt.toString() },
    );
    assert.match(out, /ONCHAIN EXECUTION COMPLETE & SUCCESSFUL/, out.slice(-4000));
    const run = JSON.parse(fs.readFileSync(
      path.join(root, 'broadcast', 'DeployCreate2.s.sol', String(CHAIN_ID), 'run-latest.json'),
      'utf8',
    ));
    const create = run.transactions.find((t) => t.transactionType === 'CREATE2');
    assert.ok(create, `a CREATE2 transaction in the broadcast: ${run.transactions.map((t) => t.transactionType)}`);
    const sent = await publicClient.getTransaction({ hash: create.hash });
    assert.equal(sent.to.toLowerCase(), CREATE2_DEPLOYER, 'sent to the CREATE2 deployer');
    // The deployer's calldata is salt ‖ initcode; the address follows from it.
    assert.equal(BigInt(slice(sent.input, 0, 32)), salt);
    const expected = getContractAddress({
      opcode: 'CREATE2',
      from: CREATE2_DEPLOYER,
      salt: slice(sent.input, 0, 32),
      bytecode: slice(sent.input, 32),
    });
    assert.equal(create.contractAddress.toLowerCase(), expected.toLowerCase());
    const receipt = await publicClient.getTransactionReceipt({ hash: create.hash });
    assert.equal(receipt.status, 'success');
    assert.equal(await publicClient.readContract({ address: expected, abi, functionName: 'value' }), 12n);
  });
});
