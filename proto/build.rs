//! Compiles the `.proto` files with protox (pure Rust, no `protoc`) and generates the Rust
//! types with prost.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["parley/protocol/v1/messages.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["."])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
