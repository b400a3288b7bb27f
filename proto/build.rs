//! Compiles the `.proto` files with protox (pure Rust, no `protoc`) and generates the Rust
//! types with prost, and the ProverService's gRPC client and server with tonic.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let messages = ["parley/protocol/v1/messages.proto"];
    let services = ["parley/prover/v1/service.proto"];
    for f in messages.iter().chain(&services) {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(messages, ["."])?;
    prost_build::Config::new().compile_fds(fds)?;
    let fds = protox::compile(services, ["."])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
