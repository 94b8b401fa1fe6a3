//! Fuzzes the narinfo and `nix-cache-info` parsers: any byte string must
//! parse or fail with a typed error, never panic. What parses must print
//! (in Nix's spelling) to text that parses back to the same narinfo, and its
//! signatures must be checkable without panicking.
#![no_main]

use b8g_store::format::narinfo::{CacheInfo, NarInfo};
use b8g_store::format::signing::SecretKey;
use b8g_store::format::store_path::StoreDir;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = StoreDir::new("/nix/store").expect("valid store dir");
    match NarInfo::parse(&dir, data) {
        Ok(info) => {
            let text = info.to_text(&dir);
            let again = NarInfo::parse(&dir, text.as_bytes())
                .unwrap_or_else(|e| panic!("printed narinfo does not parse: {e}\n{text}"));
            assert_eq!(again, info, "narinfo changed through print and parse");
            assert_eq!(again.to_text(&dir), text, "printing is not stable");
            // Signature checking on hostile input must only ever say no.
            let key = SecretKey::from_seed("fuzz-1", &[7; 32]).expect("valid name");
            if let Ok(fp) = info.fingerprint(&dir) {
                let sig = key.sign(fp.as_bytes()).to_string();
                let mut signed = info.clone();
                signed.signatures.push(sig);
                assert!(signed.has_valid_signature(&dir, &[key.public()]));
            }
            let _ = info.has_valid_signature(&dir, &[key.public()]);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match CacheInfo::parse(data) {
        Ok(ci) => {
            let text = ci.to_text();
            let again = CacheInfo::parse(text.as_bytes())
                .unwrap_or_else(|e| panic!("printed nix-cache-info does not parse: {e}\n{text}"));
            assert_eq!(again, ci);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
