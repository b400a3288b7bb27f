//! This node's CometBFT validator key, read from the `priv_validator_key.json` CometBFT keeps
//! in the home it shares with parleyd. parleyd needs the private key's seed to derive its
//! seed secrets (ADR 0009); it never signs consensus messages with it (CometBFT does).

use std::path::Path;

use base64::Engine as _;

use crate::chain::seed::consensus_address;

#[derive(serde::Deserialize)]
struct KeyFile {
    address: String,
    pub_key: Typed,
    priv_key: Typed,
}

#[derive(serde::Deserialize)]
struct Typed {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

/// The private key seed in `path`, or `None` when the file does not exist (a node that
/// does not validate). A file that exists but is not a consistent CometBFT ed25519 key is an
/// error naming the config key.
pub fn load(path: &Path) -> eyre::Result<Option<[u8; 32]>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => eyre::bail!("key `priv_validator_key_file`: {}: {e}", path.display()),
    };
    let bad = |why: &str| eyre::eyre!("key `priv_validator_key_file`: {}: {why}", path.display());
    let f: KeyFile = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
    if f.priv_key.kind != "tendermint/PrivKeyEd25519"
        || f.pub_key.kind != "tendermint/PubKeyEd25519"
    {
        return Err(bad("not an ed25519 key (Parley validators use ed25519)"));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let private = b64
        .decode(&f.priv_key.value)
        .map_err(|e| bad(&format!("priv_key: {e}")))?;
    let public = b64
        .decode(&f.pub_key.value)
        .map_err(|e| bad(&format!("pub_key: {e}")))?;
    let (Ok(seed), Ok(public)) = (
        <[u8; 32]>::try_from(private.get(..32).unwrap_or_default()),
        <[u8; 32]>::try_from(public.as_slice()),
    ) else {
        return Err(bad("priv_key must be 64 bytes and pub_key 32"));
    };
    let derived = ed25519_consensus::SigningKey::from(seed)
        .verification_key()
        .to_bytes();
    if derived != public || private.get(32..) != Some(public.as_slice()) {
        return Err(bad("pub_key is not the public key of priv_key"));
    }
    let address = hex::encode(consensus_address(&public));
    if !address.eq_ignore_ascii_case(&f.address) {
        return Err(bad("address is not the key's consensus address"));
    }
    Ok(Some(seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key written by `cometbft gen-validator` (v0.38): it loads, and the seed derives the
    /// file's public key and address the way CometBFT does.
    #[test]
    fn loads_a_key_cometbft_wrote() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("k.json");
        std::fs::write(&p, include_str!("testdata_priv_validator_key.json")).expect("write");
        let seed = load(&p).expect("loads").expect("present");
        let public = ed25519_consensus::SigningKey::from(seed)
            .verification_key()
            .to_bytes();
        assert_eq!(
            consensus_address(&public),
            "0x370E65B1A4852DADEF32E82672A48925F418AC52"
                .parse::<alloy_primitives::Address>()
                .expect("hex")
        );
        assert_eq!(load(&dir.path().join("missing.json")).expect("ok"), None);
        // A damaged file is an error naming the key, never a silent "not a validator".
        let text = include_str!("testdata_priv_validator_key.json").replace("370E", "370F");
        std::fs::write(&p, text).expect("write");
        let e = load(&p).expect_err("wrong address").to_string();
        assert!(
            e.contains("priv_validator_key_file") && e.contains("address"),
            "{e}"
        );
        std::fs::write(&p, "{}").expect("write");
        assert!(load(&p).is_err());
    }
}
