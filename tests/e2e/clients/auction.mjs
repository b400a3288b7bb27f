// A dApp's viem transaction through the auction path (tests/e2e/run.sh t_auction): sends 1 wei
// from the given key to a fresh address, waits for the receipt and prints it as one JSON line.
//
//   node tests/e2e/clients/auction.mjs RPC_URL PRIVATE_KEY [CHAIN_ID]
import { createPublicClient, createWalletClient, defineChain, http } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';

const [rpc, key, chainIdArg] = process.argv.slice(2);
if (!rpc || !key) {
  console.error('usage: node auction.mjs RPC_URL PRIVATE_KEY [CHAIN_ID]');
  process.exit(2);
}
const chain = defineChain({
  id: Number(chainIdArg ?? 424242),
  name: 'parley-localnet',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: [rpc] } },
});
const account = privateKeyToAccount(key);
const to = privateKeyToAccount(generatePrivateKey()).address;
const wallet = createWalletClient({ account, chain, transport: http(rpc) });
const client = createPublicClient({ chain, transport: http(rpc) });
const hash = await wallet.sendTransaction({ to, value: 1n });
const receipt = await client.waitForTransactionReceipt({ hash, timeout: 120_000, pollingInterval: 250 });
const got = await client.getBalance({ address: to, blockNumber: receipt.blockNumber });
console.log(
  JSON.stringify({
    hash,
    blockNumber: Number(receipt.blockNumber),
    status: receipt.status,
    to,
    balance: got.toString(),
  }),
);
