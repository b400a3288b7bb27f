// SPDX-License-Identifier: Apache-2.0
//
// Create2Deployer — Parley's deterministic deployment proxy, predeployed in genesis at the
// canonical address 0x4e59b44847b379578588920ca78fbf26c0b4956c (where forge scripts, hardhat
// and others send `new C{salt: s}()` deployments).
//
// Written for Parley with the interface those tools expect there:
//   calldata  = salt (32 bytes) ‖ initcode
//   effect    = CREATE2(value = msg.value, code = initcode, salt = salt)
//   returns   = the new contract's 20-byte address, unpadded
//   reverts   if the calldata is shorter than a salt, or the creation fails (with the initcode's
//             revert data when it has any).
// This object has no constructor: build.sh compiles it alone, so its bytecode IS the runtime code.
object "Create2Deployer" {
    code {
        if lt(calldatasize(), 32) { revert(0, 0) }
        let size := sub(calldatasize(), 32)
        calldatacopy(0, 32, size)
        let created := create2(callvalue(), 0, size, calldataload(0))
        if iszero(created) {
            returndatacopy(0, 0, returndatasize())
            revert(0, returndatasize())
        }
        mstore(0, created)
        return(12, 20)
    }
}
