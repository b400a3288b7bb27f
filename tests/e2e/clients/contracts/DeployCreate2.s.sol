// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.19;

import {Demo} from "./Demo.sol";

/// The subset of forge's cheatcodes this script uses (no forge-std: nothing to install).
interface Vm {
    function envUint(string calldata name) external view returns (uint256);
    function startBroadcast() external;
    function stopBroadcast() external;
}

/// `forge script --broadcast` deploys Demo and stores into it. With a non-zero $DEMO_SALT the
/// deployment is `new Demo{salt: DEMO_SALT}`, which forge sends through the deterministic CREATE2
/// deployer at 0x4e59…956c (so the address is create2(0x4e59…956c, salt, initcode) and needs that
/// predeploy on the chain); with DEMO_SALT=0 it is a plain CREATE from the sender.
contract DeployCreate2 {
    Vm private constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    function run() external returns (Demo demo) {
        bytes32 salt = bytes32(VM.envUint("DEMO_SALT"));
        VM.startBroadcast();
        demo = salt == bytes32(0) ? new Demo(11) : new Demo{salt: salt}(11);
        demo.store(12);
        VM.stopBroadcast();
        require(demo.value() == 12, "DeployCreate2: store did not take");
    }
}
