//! Fuzzes the snapshot manifest parser (the first member of a `b8g
//! snapshot` file, read before any signature is known to be good): any byte
//! string must parse or fail with a typed error, never panic. What parses
//! renders back to exactly the input, and checking its signatures only
//! ever says yes or no.
#![no_main]

use b8g_store::format::signing::SecretKey;
use b8g_store::format::snapshot_manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Manifest::parse(data) {
        Ok(m) => {
            assert_eq!(m.render().as_bytes(), data, "parse and render disagree");
            let key = SecretKey::from_seed("fuzz-1", &[7; 32]).expect("valid name");
            let _ = m.has_valid_signature(&[key.public()]);
            let mut signed = m.clone();
            signed.sign(&key);
            assert!(signed.has_valid_signature(&[key.public()]));
            let again = Manifest::parse(signed.render().as_bytes()).expect("signed parses");
            assert_eq!(again, signed);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
